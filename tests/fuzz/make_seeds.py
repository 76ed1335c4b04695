#!/usr/bin/python3
"""Writes the small valid seed files in tests/fuzz/seeds/{safetensors,npy} (json seeds are
plain text files written by hand). Run from tests/fuzz/: /usr/bin/python3 make_seeds.py"""
import json
import struct


def st(name, hdr, data):
    t = json.dumps(hdr, separators=(',', ':')).encode()
    with open('seeds/safetensors/' + name, 'wb') as f:
        f.write(struct.pack('<Q', len(t)) + t + data)


def npy(name, ver, d, data):
    h = d.encode()
    n = struct.pack('<H', len(h)) if ver == 1 else struct.pack('<I', len(h))
    with open('seeds/npy/' + name, 'wb') as f:
        f.write(b'\x93NUMPY' + bytes([ver, 0]) + n + h + data)


st('empty.safetensors', {}, b'')
st('one_u8.safetensors', {'x': {'dtype': 'U8', 'shape': [3], 'data_offsets': [0, 3]}}, b'abc')
st('two.safetensors', {'__metadata__': {'k': 'v'},
                       'a': {'dtype': 'F32', 'shape': [1, 2], 'data_offsets': [0, 8]},
                       'b': {'dtype': 'BOOL', 'shape': [], 'data_offsets': [8, 9]}},
   struct.pack('<2f', 1, 2) + b'\x01')
npy('tiny_f4.npy', 1, "{'descr':'<f4','fortran_order':False,'shape':(2,)}", struct.pack('<2f', 1, 2))
npy('tiny_fortran.npy', 2, "{'descr':'>i2','fortran_order':True,'shape':(2,2)}",
    struct.pack('>4h', 1, 2, 3, 4))
