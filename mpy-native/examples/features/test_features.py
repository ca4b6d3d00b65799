# Test of the `features` native module (Rust) in the real MicroPython runtime.
# Run: micropython -c "import sys; sys.path.insert(0, 'build/x64'); sys.path.insert(0, 'mpy-native/examples/features')" ...
# or through pytest (mpy-native/tests/test_features_module.py). Exits 1 on the first failure.
import gc
import sys

import features as f

failures = 0


def check(name, got, want):
    global failures
    if got != want:
        failures += 1
        print("FAIL", name, "got", repr(got), "want", repr(want))


def raises(name, exc_type, fn, *args, contains=None):
    global failures
    try:
        fn(*args)
    except exc_type as e:
        if contains is not None and contains not in str(e):
            failures += 1
            print("FAIL", name, "message", repr(str(e)), "lacks", repr(contains))
        return e
    except Exception as e:  # wrong type
        failures += 1
        print("FAIL", name, "raised", type(e).__name__, e)
        return None
    failures += 1
    print("FAIL", name, "did not raise", exc_type.__name__)
    return None


def boom():
    raise OSError(5)


def bad():
    raise KeyError("k")


# functions with 0..3 and var args; ints, floats, bool/None
check("version", type(f.version()), str)
check("double", f.double(21), 42)
check("double neg", f.double(-7), -14)
check("double big", f.double(1 << 40), 1 << 41)
raises("double str", TypeError, f.double, "x")
raises("double long int", OverflowError, f.double, 1 << 70)
check("double bool", f.double(True), 2)
check("add_floats", f.add_floats(1.5, 2.25), 3.75)
check("add_floats int", f.add_floats(1, 2), 3.0)
check("ratio", f.ratio(1, 4), 0.25)
check("ratio type", type(f.ratio(4, 2)), float)
raises("ratio zero", ZeroDivisionError, f.ratio, 1, 0)
check("clamp", f.clamp(5, 0, 3), 3.0)
check("clamp low", f.clamp(-1.5, 0, 3), 0.0)
raises("clamp order", ValueError, f.clamp, 1, 3, 0, contains="lo (3) > hi (0)")
check("sum_all none", f.sum_all(), 0)
check("sum_all many", f.sum_all(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 55)
raises("sum_all too many", TypeError, f.sum_all, *range(17))
check("negate", f.negate(0), True)
check("negate true", f.negate([1]), False)
check("is_none", (f.is_none(None), f.is_none(0)), (True, False))

# buffers, str/bytes, tuples and lists
check("checksum bytes", f.checksum(b"\x01\x02\x03"), 6)
check("checksum str", f.checksum("AB"), 65 + 66)
ba = bytearray(5)
f.fill(ba, 7)
check("fill", ba, bytearray(b"\x07" * 5))
raises("fill bytes", TypeError, f.fill, b"abc", 1)
raises("fill range", ValueError, f.fill, ba, 300)
raises("checksum int", TypeError, f.checksum, 5)
raises("checksum bytearray", TypeError, f.checksum, bytearray(b"ab"))  # mutable: no safe view
check("first_byte bytearray", f.first_byte(bytearray(b"\x09z")), 9)
raises("first_byte empty", ValueError, f.first_byte, b"")
check("mapping", f.mapping("k", [1]), {"k": [1]})
check("greet", f.greet("lux"), "hello, lux!")
check("greet utf8", f.greet("héllo"), "hello, héllo!")
raises("greet long", ValueError, f.greet, "x" * 100)
raises("greet int", TypeError, f.greet, 1)
check("to_bytes", f.to_bytes("abc"), b"abc")
check("pair", f.pair(1, "b"), (1, "b"))
check("range_list", f.range_list(5), [0, 1, 2, 3, 4])
check("unpack3", f.unpack3((1, 2, 3)), (3, 2, 1))
check("unpack3 list", f.unpack3([1, 2, 3]), (3, 2, 1))
raises("unpack3 arity", ValueError, f.unpack3, (1, 2))

# printing with the runtime's machinery: str, repr and json.dumps of the same object
import json

for v in (1.5, "a\"b\n", (1, None, True), [1 << 70, -3], {"k": 0.1}, 284.1312):
    check("texts %r" % (v,), f.texts(v), (str(v), repr(v), json.dumps(v)))
raises("texts long", ValueError, f.texts, "x" * 200)
ba = bytearray(b"ab" + bytes(18))
check("print_into", (f.print_into(ba, 2, [1, "a"]), bytes(ba[:10])), ((8, True), b'ab[1, "a"]'))
check("print_into short", f.print_into(bytearray(4), 2, [1, "a"]), (8, False))
check("print_into not a buffer", f.print_into(42, 0, 1), (1, False))


class Grows:  # resizes the target while it is being printed into: its memory moves
    def __repr__(self):
        ba.extend(bytes(1024))
        del spare[:]  # and the freed memory is reused
        spare.extend(bytearray(64) for _ in range(64))
        return "7"


spare = []
ba = bytearray(16)
n = f.print_into(ba, 0, [1, Grows(), "xyz"])
check("print_into resized", (n, bytes(ba[:n[0]])), ((13, True), b'[1, 7, "xyz"]'))
check("print_into freed memory untouched", [bytes(b) for b in spare if b != bytearray(64)], [])
del spare, ba, n
gc.collect()
f.say("hi")

# calling methods of Python objects, with keywords, importing
check("upper", f.upper("abc"), "ABC")
check("call_kw", f.call_kw(lambda x, key=0: (x, key), 1, 2), (1, 2))


class HasUpper:
    def upper(self):
        return "custom"


check("upper custom", f.upper(HasUpper()), "custom")
raises("upper missing", AttributeError, f.upper, 5)
check("sqrt", f.sqrt(16), 4.0)

# builtins are resolved at import: a global named int here does not change the module's int
int = str
check("builtin int", f.int_type() is type(1), True)
del int

# ... and for every builtin the crate uses: a caller whose globals shadow print, int,
# isinstance, str, type and the exception types (here an exec namespace), and the builtins
# module patched after the import, change nothing the module does.
PROBE = """
def probe():
    out = []
    for fn, args in ((f.int_type, ()), (f.raise_value_error, (3,)), (f.raise_type_error, ()),
                     (f.raise_os_error, (19,)), (f.is_os_error, (boom,)), (f.is_os_error, (bad,)),
                     (f.error_text, (boom,)), (f.call_with_context, (bad,)), (f.say, ("probe",)),
                     (f.Counter, (0, 10 ** 6)), (f.panic, (5,)), (f.double, ("x",))):
        try:
            out.append(("ok", fn(*args)))
        except BaseException as e:
            out.append(("raised", e))
    return out
"""
said = []


def boom_bound(exc=OSError):  # OSError(5) whatever the name OSError means when it is called
    raise exc(5)


FAKES = {
    "print": lambda *a: said.append(a), "int": str, "isinstance": lambda *a: True,
    "str": lambda *a: "fake str", "repr": lambda *a: "fake repr", "type": lambda *a: KeyError,
    "ValueError": KeyError, "TypeError": KeyError, "OSError": KeyError, "RuntimeError": KeyError,
    "MemoryError": KeyError, "bytearray": lambda *a: b"fake",
}


def check_probe(label, out):
    kinds = [(k, type(v).__name__ if k == "raised" else v) for k, v in out]
    check(label + " outcomes", kinds[:4] + kinds[5:6] + kinds[8:],
          [("ok", type(1)), ("raised", "ValueError"), ("raised", "TypeError"), ("raised", "OSError"),
           ("ok", False), ("ok", None), ("raised", "ValueError"), ("raised", "RuntimeError"),
           ("raised", "TypeError")])
    check(label + " isinstance", out[4], ("ok", True))
    check(label + " os errno", out[3][1].errno, 19)
    check(label + " str", out[6], ("ok", (str(OSError(5)), True)))
    check(label + " type", (type(out[7][1]), "while calling back" in str(out[7][1])), (KeyError, True))
    check(label + " print", said, [])


caller = {"f": f, "boom": boom_bound, "bad": bad}
caller.update(FAKES)
exec(PROBE, caller)
check_probe("caller globals", caller["probe"]())
import builtins

clean = {"f": f, "boom": boom_bound, "bad": bad}
exec(PROBE, clean)
saved = [(k, getattr(builtins, k)) for k in FAKES]
try:
    for k, v in FAKES.items():
        setattr(builtins, k, v)
    patched = clean["probe"]()
finally:
    for k, v in saved:
        setattr(builtins, k, v)
check_probe("builtins patched", patched)
del caller, clean, patched, saved
gc.collect()
check("has_stream", (f.has_stream(42), hasattr(sys.stdout, "write") and f.has_stream(sys.stdout)), (False, True))

# raising
raises("value error", ValueError, f.raise_value_error, 3, contains="bad value 3")
e = raises("os error", OSError, f.raise_os_error, 19, contains="device said no")
check("os errno", e.errno if e else None, 19)
raises("type error", TypeError, f.raise_type_error, contains="wrong type")


e = raises("context os", OSError, f.call_with_context, boom, contains="while calling back")
check("context keeps errno", e.errno if e else None, 5)
raises("context other", KeyError, f.call_with_context, bad, contains="while calling back")
check("call ok", f.call_with_context(lambda: 42), 42)
check("catching ok", f.call_catching(lambda: 1), ("ok", 1))
check("catching os", f.call_catching(boom), ("caught", 5))
check("catching other", f.call_catching(bad), ("caught", None))
check("is_os_error", (f.is_os_error(boom), f.is_os_error(bad)), (True, False))
check("panic ok", f.panic(1), 2)
raises("panic", RuntimeError, f.panic, 5, contains="index out of bounds")
check("after panic", f.double(2), 4)
check("constant", f.ENODEV, 19)
check("table constants", (f.ANSWER, f.MINUS_ONE), (42, -1))
check("uint", f.big(), (1 << (64 if f.big() > (1 << 32) else 32)) - 1)
check("swap_items", f.swap_items([1, 2, 3], 0, 2), [3, 2, 1])
check("swap_items dict", f.swap_items({"a": 1, "b": 2}, "a", "b"), {"a": 2, "b": 1})
raises("swap_items bad index", IndexError, f.swap_items, [1], 0, 5)


class Tagged:
    pass


t = Tagged()
check("set_tag", (f.set_tag(t, 5), t.tag), (True, 5))
raises("set_tag on int", AttributeError, f.set_tag, 1, 2)
import io

sio = io.BytesIO()
check("stream_write", (f.stream_write(sio, b"abc"), sio.getvalue()), (3, b"abc"))
raises("stream_write no stream", TypeError, f.stream_write, 42, b"x")
check("stream_read", f.stream_read(io.BytesIO(b"hello"), 3), (b"hel", 0))
check("sum_buffer", (f.sum_buffer(bytearray(b"\x01\x02")), f.sum_buffer(b"")), (3, 0))
check("error_text", f.error_text(boom), (str(OSError(5)), True))
check("error_text ok", f.error_text(lambda: 1), None)
check("labelled", f.labelled([1, "a"]), "value=[1, 'a']")

# a class: constructor (positional + keyword), methods, attributes, constant
c = f.Counter()
check("counter default", (c.value, c.step), (0, 1))
check("counter get", c.get(), 0)
check("incr", c.incr(), 1)
c2 = f.Counter(10, step=5)
check("incr step", (c2.incr(), c2.incr()), (15, 20))
check("add", c2.add(-20), 0)
c2.value = 100
check("set value", c2.value, 100)
c2.reset()
check("reset", c2.value, 0)
c2.reset(7)
check("reset arg", c2.value, 7)
raises("readonly step", AttributeError, setattr, c2, "step", 3)
raises("no attr", AttributeError, getattr, c2, "nope")
raises("bad kw", TypeError, lambda: f.Counter(bogus=1), contains="keyword argument")  # the runtime's parser: 'extra keyword arguments given' (detailed reporting: 'unexpected keyword argument')
raises("too many", TypeError, f.Counter, 1, 2, 3, 4)
raises("bad step", ValueError, lambda: f.Counter(step=10**6), contains="out of range")
raises("wrong self", TypeError, f.Counter.incr, 42)
check("class constant", (f.Counter.MAX_STEP, c.MAX_STEP), (1000, 1000))
check("type name", repr(type(c)), "<class 'Counter'>")

# re-entrancy: a method calling back into the same instance is refused, not undefined
other = f.Counter()
check("visit other", c2.visit(lambda: other.incr()), 1)
raises("re-entrant method", RuntimeError, c2.visit, lambda: c2.incr(), contains="re-entrant")
raises("re-entrant attr", RuntimeError, c2.visit, lambda: c2.value, contains="re-entrant")
check("usable after re-entry refused", c2.incr(), c2.value)
# a method whose callback raises: the error propagates and the object stays usable
raises("method raises", OSError, c2.visit, boom)
check("usable after a raise", c2.incr(), c2.value)
# a method that fails itself (its own error, raised by the dispatcher), and one whose runtime
# call raises straight through it (MemoryError from making a long int at heap exhaustion, no
# Result on the way): the busy flag is cleared both times, the next call works


def exhaust_heap():
    hog = None
    for grow in (lambda h: (h, bytearray(4096)), lambda h: (h, bytearray(64)), lambda h: (h,)):
        while True:
            try:
                hog = grow(hog)
            except MemoryError:
                break
    return hog


def at_heap_exhaustion(fn):  # fn() with no free block left: what it raised, or None
    hog = exhaust_heap()
    try:
        while True:  # the blocks freed when exhaust_heap returned
            hog = (hog,)
    except MemoryError:
        pass
    try:
        fn()
        raised = None
    except Exception as e:
        raised = e
    hog = None
    gc.collect()
    return raised


raises("method's own error", TypeError, c2.add, "x")
check("usable after its own error", c2.incr(), c2.value)
big = f.Counter((1 << 62) - 1 if f.big() > (1 << 32) else (1 << 30) - 1)  # the largest small int
top = big.value
check("MemoryError inside a method", type(at_heap_exhaustion(big.incr)), MemoryError)
check("method ran before the MemoryError", big.value, top + 1)
check("usable after a MemoryError", (big.get(), big.incr()), (top + 1, top + 2))
del big
gc.collect()
raises("method kw", TypeError, lambda: c2.add(x=1), contains="keyword")
raises("method arity", TypeError, c2.add, contains="positional arguments")

# a Python subclass of the native class: native methods and attributes still work
class Doubler(f.Counter):
    def twice(self):
        self.incr()
        return self.incr()


d = Doubler(5, step=2)
check("subclass method", d.twice(), 9)
check("subclass attr", d.value, 9)

# instances survive gc.collect() while alive, and keep their Python objects alive
keep = [f.Counter(i, label=[i] * 3) for i in range(50)]
gc.collect()
junk = [bytearray(64) for _ in range(2000)]  # churn the heap
del junk
gc.collect()
check("survive gc", [(k.value, k.label) for k in keep[:3]], [(0, [0, 0, 0]), (1, [1, 1, 1]), (2, [2, 2, 2])])
check("survive gc all", sum(k.incr() for k in keep), sum(range(1, 51)))

# 100,000 calls: no crash, no leak, and nothing allocated per call: with the GC off, the heap
# in use may grow only by the loop's own iterator, not per iteration.
N = 100000
cnt = f.Counter()
gc.collect()
gc.disable()
before = gc.mem_alloc()
for i in range(N):
    f.double(i)
    cnt.incr()
    f.negate(i)
after = gc.mem_alloc()
gc.enable()
check("100k calls", cnt.value, N)
print("heap before/after 100k calls (GC off):", before, after)
if after - before > 256:
    failures += 1
    print("FAIL: heap grew by", after - before, "bytes over", N, "iterations")

if failures:
    print("FAILED:", failures)
    sys.exit(1)
print("features: all checks passed")
