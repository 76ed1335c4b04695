#!/usr/bin/python3
"""Reference files for tests/test_npy.c and tests/test_safetensors.c.

Run from the repository root:  /usr/bin/python3 tests/ref/make_format_refs.py
It writes tests/ref/fmt_*.npy and tests/ref/fmt_*.safetensors and prints every value; the tests
spell those values out, so they check our readers against numpy and against the format spec,
not against our own writer.

- .npy files come from numpy itself (np.save / np.lib.format.write_array).
- fmt_ours_*.npy are numpy's bytes for arrays our writer must reproduce byte for byte.
- fmt_py.safetensors is built WITHOUT any safetensors library: json + struct, as the format
  spec says (8-byte little-endian header length, JSON header, byte buffer). Its header is not
  padded and its tensors are not in header order, so offsets are unaligned and order matters.
"""
import io
import json
import os
import struct

import numpy as np

OUT = os.path.dirname(os.path.abspath(__file__))


def save(name, arr, version=None):
    path = os.path.join(OUT, name)
    if version is None:
        np.save(path, arr)
    else:
        with open(path, "wb") as f:
            np.lib.format.write_array(f, arr, version=version)
    with open(path, "rb") as f:
        raw = f.read()
    major = raw[6]
    hl = struct.unpack("<H" if major == 1 else "<I", raw[8:10] if major == 1 else raw[8:12])[0]
    hs = 10 if major == 1 else 12
    header = raw[hs:hs + hl].decode("latin1" if major < 3 else "utf8").strip()
    print(f"{name}: version {major}.0 header {header}")
    print(f"    C-order values: {np.ascontiguousarray(arr).ravel().tolist()}")


def main():
    save("fmt_f4_c.npy", np.array([[1.5, -2.25, 3.0], [0.1, 1e-30, -7.75]], dtype="<f4"))
    save("fmt_f8.npy", np.array([np.pi, -1e300, 5e-324, 0.1], dtype="<f8"))
    save("fmt_i8.npy", np.array([-2**63, 2**63 - 1, 0, -1, 123456789012], dtype="<i8"))
    save("fmt_f4_be.npy", np.array([[1.0, -2.5], [3.25, 1e10]], dtype=">f4"))
    save("fmt_i8_be.npy", np.array([1, -2, 2**40], dtype=">i8"))
    save("fmt_fortran_2d.npy", np.asfortranarray(np.arange(12, dtype="<f4").reshape(3, 4)))
    save("fmt_fortran_3d_i4.npy",
         np.asfortranarray((np.arange(24, dtype="<i4") * 10 - 5).reshape(2, 3, 4)))
    save("fmt_bool.npy", np.array([[True, False, True], [False, False, True]]))
    save("fmt_v2_i2.npy", (np.arange(6, dtype="<i2") - 3).reshape(3, 2), version=(2, 0))
    save("fmt_v3_u2.npy", np.array([0, 1, 65535], dtype="<u2"), version=(3, 0))
    save("fmt_u1.npy", np.array([0, 255, 7], dtype="u1"))
    save("fmt_i1.npy", np.array([-128, 127, 0], dtype="i1"))
    save("fmt_u4.npy", np.array([4294967295, 0], dtype="<u4"))
    save("fmt_u8.npy", np.array([18446744073709551615, 5], dtype="<u8"))
    save("fmt_f2.npy", np.array([1.0, -0.5, 65504.0, 2.0**-24, np.inf], dtype="<f2"))
    save("fmt_scalar.npy", np.array(2.5, dtype="<f4"))
    save("fmt_empty.npy", np.zeros((0, 3), dtype="<f4"))

    # Arrays our writers must reproduce byte for byte (the test builds the same values).
    save("fmt_ours_f32.npy", (np.arange(6, dtype="<f4") * 0.5 - 1).reshape(2, 3))
    save("fmt_ours_i32.npy", np.array([-3, 0, 2147483647, -2147483648, 5], dtype="<i4"))
    save("fmt_ours_i64.npy", (np.arange(24, dtype="<i8") - 12).reshape(2, 3, 4))
    save("fmt_ours_stream.npy", np.arange(7 * 2 * 3, dtype="<f4").reshape(7, 2, 3))

    # safetensors by hand, per the spec.
    b = struct.pack("<4q", 1, -2, 3, -(2**40))
    a = struct.pack("<6f", 0.5, -1.0, 2.0, 1e-3, 3.5, -4.25)
    h = np.array([1.0, -2.0, 0.5], dtype="<f2").tobytes()
    s = struct.pack("<d", np.pi)
    data = b + a + h + s
    hdr = {
        "b": {"dtype": "I64", "shape": [4], "data_offsets": [0, 32]},
        "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [32, 56]},
        "__metadata__": {"format": "pt", "step": "7", "uni": "\u03bc\u2211 \u2603 \U0001F600"},
        "h": {"dtype": "F16", "shape": [3], "data_offsets": [56, 62]},
        "s": {"dtype": "F64", "shape": [], "data_offsets": [62, 70]},
        "e": {"dtype": "F32", "shape": [0, 4], "data_offsets": [70, 70]},
    }
    text = json.dumps(hdr).encode("utf8")  # ensure_ascii: non-ASCII as \\u escapes
    with open(os.path.join(OUT, "fmt_py.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)
    print(f"fmt_py.safetensors: header {len(text)} bytes: {text.decode()}")
    print(f"    a = {list(struct.unpack('<6f', a))}")
    print(f"    b = {list(struct.unpack('<4q', b))}, s = {np.pi!r}, h = [1.0, -2.0, 0.5]")


if __name__ == "__main__":
    main()
