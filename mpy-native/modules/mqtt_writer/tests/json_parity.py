# MicroPython script: the native writer's JSON (mqtt_writer._json) against the runtime's own
# json.dumps, in the same process, over many values.
#
#   MICROPYPATH=build/x64 micropython json_parity.py [N] [SEED]
#
# Prints "MISMATCH <repr(value)> native=<...> json=<...>" for each difference (at most 20),
# then one line "JSON {...}" with the counts. Exits 1 on any mismatch.
import json
import random
import struct
import sys

import mqtt_writer

n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
random.seed(int(sys.argv[2]) if len(sys.argv) > 2 else 1)

checked = 0
mismatches = 0


def check(x):
    global checked, mismatches
    checked += 1
    a = mqtt_writer._json(x)
    b = json.dumps(x)
    if a != b:
        mismatches += 1
        if mismatches <= 20:
            print("MISMATCH", repr(x), "native=" + a, "json=" + b)


def bits(k):  # getrandbits is limited to 32 bits at a time here
    v = 0
    while k > 0:
        v = (v << min(k, 32)) | random.getrandbits(min(k, 32))
        k -= 32
    return v


def bits_to_float(hi, lo):
    return struct.unpack("<d", struct.pack("<II", lo, hi))[0]


EDGE = [0.0, -0.0, 1.0, -1.0, 0.1, 0.5, 1e16, 1e15, 9999999999999998.0, 1e-5, 1e-4, 0.0001234,
        123456789.123, 284.1312, 288.2113, 77.0304, 35.90401, 5e-324, 1e-323, 2.2250738585072014e-308,
        2.225073858507201e-308, 1.7976931348623157e308, float("nan"), float("inf"), float("-inf"),
        76377.46, 84.472, 1 / 3, 2 / 3, 1e22, 1e23, 1e-7, 123e-20, 4.35, 0.3]
for f in EDGE:
    check(f)
    check(-f)
for k in range(-325, 310):
    for m in (1.0, 1.5, 5.0, 9.5, 9.999999999999999):
        try:
            check(m * 10.0 ** k)
            check(float("%se%d" % (m, k)))
        except OverflowError:
            pass

for i in range(n):
    kind = i % 8
    if kind == 0:  # any finite double, from random bits
        x = bits_to_float(random.getrandbits(32), random.getrandbits(32))
    elif kind == 1:  # a typical sensor reading
        x = bits(20) / 10 ** random.getrandbits(3)
    elif kind == 2:
        x = random.random() * 10 ** (random.getrandbits(6) - 32)
    elif kind == 3:  # subnormal
        x = bits_to_float(random.getrandbits(20), random.getrandbits(32))
    elif kind == 4:  # ints, small and big, both signs
        x = bits(random.getrandbits(7) + 1) * (-1 if i & 8 else 1)
    elif kind == 5:  # lux-like floats near integers and the 1e16 boundary
        x = float(bits(54)) + random.random()
    elif kind == 6:  # strings: every ASCII byte, some non-ASCII
        x = "".join(chr(random.getrandbits(7)) for _ in range(random.getrandbits(4)))
        x += "é€😀"[: random.getrandbits(2)]
    else:  # whole events
        x = ("lux-%d" % random.getrandbits(8), random.getrandbits(31), random.random() * 1000)
    check(x)
    if kind == 7:
        check(list(x))
        check((x, [x[0], None, True, False], {"k": x[2]}))

print("JSON " + json.dumps({"checked": checked, "mismatches": mismatches,
                           "own_floats": mqtt_writer._own_floats()}))
if mismatches:
    sys.exit(1)
