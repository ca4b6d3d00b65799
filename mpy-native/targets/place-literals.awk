# LLVM's Xtensa backend prints a function's `.literal` lines before it switches to the
# function's section, so GNU as would put them in the literal pool of the section before
# (another function's, or a jump table's rodata, out of `l32r`'s reach). This moves each run
# of `.literal`/`.literal_position` lines to just after the next `.section` directive(s), so
# they land in `.literal.<fn>`. Used by build-xtensa.sh (modules) and esp8266-sim/build.sh
# (the firmware's compiler_builtins).
/^[ \t]*\.literal(_position)?([ \t]|$)/ { buf = buf $0 "\n"; next }
/^[ \t]*\.section[ \t]/ { print; if (buf != "") pending = 1; next }
{ if (pending) { printf "%s", buf; buf = ""; pending = 0 } print }
END { printf "%s", buf }
