#!/usr/bin/env python3
"""Finds the affine structure of the SM4 S-box: S(x) = A * inv_F(A * x + C) + C over
F = GF(2)[t]/(t^8+t^7+t^6+t^5+t^4+t^2+1), A a circulant 8x8 bit matrix (row i = output bit i).
Searches every circulant matrix and constant against the GB/T 32907 table (read from
native/src/simd/sm4_sbox.rs). Prints the (first row, direction, C) that fit; the Rust code
hard-codes the result and re-checks it over all 256 inputs in `cargo test`."""
import os
import re
src=open(os.path.join(os.path.dirname(__file__),'../../native/src/simd/sm4_sbox.rs')).read()
tbl=src.split('SBOX_TABLE: [u8; 256] = [')[1].split('];')[0]
S=[int(x,16) for x in re.findall(r'0x([0-9a-f]{2})',tbl)]
assert len(S)==256
def gmul(a,b,poly):
    r=0
    while b:
        if b&1: r^=a
        b>>=1; a<<=1
        if a&0x100: a^=poly
    return r
def ginv(x,poly):
    if x==0: return 0
    for y in range(1,256):
        if gmul(x,y,poly)==1: return y
def par(x): return bin(x).count('1')&1
def apply(rows,x): # rows[i] = row for output bit i
    return sum(par(rows[i]&x)<<i for i in range(8))
INVF=[ginv(x,0x1F5) for x in range(256)]
def rotl8(v,n): return ((v<<n)|(v>>(8-n)))&0xff
found=[]
for r0 in range(256):
  for variant in range(2):
    # circulant: row i = rotl(r0, i) or rotr
    rows=[rotl8(r0,i) if variant==0 else rotl8(r0,(8-i)%8) for i in range(8)]
    # quick: S(x) = A*INV(A x + C) + C ; check x where A x + C = 0 -> S(x)=C
    # determine C from S at x with Ax=C... just loop C
    for C in range(256):
      ok=True
      for x in (0,1,2,0x80,0x55,0x33):
        if apply(rows,INVF[apply(rows,x)^C])^C!=S[x]: ok=False;break
      if ok and all(apply(rows,INVF[apply(rows,x)^C])^C==S[x] for x in range(256)):
        found.append((hex(r0),variant,hex(C),[hex(r) for r in rows]))
print(found)
