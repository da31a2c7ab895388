"""Reproducer for bench/upstream/yrs-untrusted-update.md: yrs (through pycrdt) decoding
untrusted bytes. Each case runs in a child process of its own, since some kill it; prints the
outcome and the child's peak RSS growth.

  python yrs_untrusted_update_repro.py            # needs only pycrdt (seen with 0.14.13)
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

PRELUDE = '''
import random
from pycrdt import Doc, Map, Text


def v(n):
    out = bytearray()
    while n > 0x7F:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    out.append(n)
    return bytes(out)


def s(raw):
    return v(len(raw)) + raw


def peak_mib():
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith("VmHWM")) // 1024


def doc_with_text(client=1, text="hello"):
    doc = Doc(client_id=client)
    doc.get("t", type=Text).insert(0, text)
    return doc


def three_editors():
    """The document of three co-editors' first 200 edits (tests/sync/test_changes.py)."""
    rng = random.Random(11)
    docs = [Doc(client_id=c) for c in (1, 300, 2**40)]
    updates, current = [], [docs[0]]
    for doc in docs:
        doc.observe(lambda e, doc=doc: updates.append(e.update) if doc is current[0] else None)
    for step in range(600):
        doc = current[0] = docs[step % 3]
        text = doc.get("content", type=Text)
        choice, length = rng.randrange(8), len(str(text))
        if choice < 4 or not length:
            piece = rng.choice(["a", "ü", "😀", "\\n", "word ", "x" * 200, "é" * 70])
            text.insert(rng.randint(0, length), piece)
        elif choice == 4:
            start = rng.randrange(length)
            del text[start : min(length, start + rng.randint(1, 3))]
        elif choice == 5:
            text.format(0, min(length, 3), {"bold": True})
        elif choice == 6:
            doc.get("meta", type=Map)[f"k{rng.randrange(4)}"] = rng.choice([1, "v", None])
        else:
            with doc.transaction():
                text.insert(0, "abc")
                del text[1:2]
        for other in docs:
            if other is not doc:
                other.apply_update(updates[-1])
    base = Doc()
    for update in updates[:200]:
        base.apply_update(update)
    return base


before = peak_mib()
'''

CASES = {
    "state vector claiming 10**8 entries (4 bytes)": "Doc().get_update(v(10**8))",
    "state vector claiming 2**28 entries (4 bytes)": "Doc().get_update(v(2**28))",
    "update claiming 10**8 clients (5 bytes)": "Doc().apply_update(v(10**8) + b'\\x00')",
    "a map value claiming 10**7 entries (22 bytes)": (
        "Doc().apply_update(v(1) + v(1) + v(7) + v(0) + bytes([8]) + v(1) + s(b't')"
        " + v(1) + bytes([118]) + v(10**7))"
    ),
    "arrays nested 50,000 deep (100 KB)": (
        "Doc().apply_update(v(1) + v(1) + v(7) + v(0) + bytes([8]) + v(1) + s(b't') + v(1)"
        " + bytes([117, 1]) * 50_000 + bytes([126, 0]))"
    ),
    "an item whose clock passes 2**32": (
        "d = Doc(); d.apply_update(v(1) + v(2) + v(7) + v(2**32 - 2) + bytes([4]) + v(1) + s(b't')"
        " + s(b'hello') + bytes([4]) + v(1) + s(b't') + s(b'x') + v(0)); d.get_update()"
    ),
    "a known client's section with no structs (5 bytes)": (
        "doc_with_text(1).apply_update(v(1) + v(0) + v(1) + v(5) + v(0))"
    ),
    "a known client's section of one empty string": (
        "doc_with_text(1).apply_update(v(1) + v(1) + v(1) + v(5) + bytes([0x84]) + v(1) + v(4)"
        " + s(b'') + v(0))"
    ),
    "a GC of length 0 at clock 1 of a new client, then encoding the document": (
        "d = doc_with_text(1); d.apply_update(v(1) + v(1) + v(99) + v(1) + bytes([0]) + v(0)"
        " + v(0)); d.get_update()"
    ),
    "one client's structs in two sections": (
        "three_editors().apply_update(bytes.fromhex("
        "'020280808080802020c7070107000301706380808080802080808080080362696e038080808080204e'"
        "'a5ac020b077b2261223a317d6401d70903616263c18080808080204dac020a0000'))"
    ),
    "ContentJSON: yrs reads len + 1 strings (Yjs writes len)": (
        "d = Doc(); d.apply_update(v(1) + v(1) + v(7) + v(0) + bytes([2]) + v(1) + s(b't')"
        " + v(1) + s(b'1') + s(b'2') + v(0)); print('applied, re-encoded:', d.get_update().hex());"
        " Doc().apply_update(d.get_update())"
    ),
    "XmlHook: yrs reads no name (Yjs writes one)": (
        "d = Doc(); d.apply_update(v(1) + v(1) + v(7) + v(0) + bytes([7]) + v(1) + s(b't')"
        " + bytes([5]) + s(b'hook') + v(0)); print('state', d.get_state().hex())"
    ),
    "a well-formed 26-byte update into a three-editor document": (
        "d = three_editors(); print('document', len(d.get_update()), 'bytes');"
        " d.apply_update(bytes.fromhex("
        "'01028080808080204e4380808080802000036269' '6e040107636f6e74656e740361626300'))"
    ),
    "pycrdt Text: deleting half of 'é'": (
        "d = Doc(); t = d.get('t', type=Text); t += 'é'; del t[0:1]"
    ),
}


def run(code: str) -> str:
    program = PRELUDE + textwrap.dedent(
        f"""
        try:
            {code}
            outcome = "no error"
        except BaseException as exc:
            outcome = f"{{type(exc).__name__}}: {{str(exc)[:90]}}"
        print(outcome, f"| peak RSS +{{peak_mib() - before}} MiB")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", program], check=False, capture_output=True, text=True, timeout=120
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode < 0:
        return " / ".join(lines + [f"killed by signal {-result.returncode}"])
    return " / ".join(lines) or result.stderr.strip().splitlines()[-1]


if __name__ == "__main__":
    import pycrdt

    print("pycrdt", getattr(pycrdt, "__version__", "?"))
    for name, code in CASES.items():
        print(f"- {name}: {run(code)}")
