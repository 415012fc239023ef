/* SM3 compression of whole blocks (GB/T 32905-2016 §5.3), x86-64 with BMI1, BMI2 and AVX-512VL.
 * Included by native/src/simd/sm3_asm.rs as one inline `asm!` block (AT&T syntax; being an
 * `asm!` template, this file has no braces).
 *
 * In: %rdi = V (eight u32, updated), %rsi = the blocks, %rcx = their number (>= 1), %rdx = 12
 *     constant words: the byte-swap mask, then the vpermi2d indices 1, 2, 4, 5 and 2, 4, 5, 6.
 * The rounds (§5.3.3) run on the scalar ALUs: A-H in %r8d-%r15d, their roles rotating as in
 * sm3.rs (a round's new A is written over D, its new E over H), temporaries %eax, %ecx, %ebx,
 * %ebp (the last two saved). They read W_j and W_j+4 from the stack and form W'_j themselves.
 * The expansion (§5.3.2) runs beside them in AVX-512VL registers, three words at a time
 * (W_j needs W_j-3), every group kept in its own register (%xmm16-%xmm31, %xmm11, %xmm12) and
 * stored once for the rounds: the groups read no memory, because a load that spans two stores
 * still in flight waits for them (loading the operands from the stack cost 34 cycles a block).
 *
 * Scheduling (measured on Zen 4: add, xor, and, andn, rol, rorx and a two-part lea take one
 * cycle, rotations issue on two ports, a three-part lea takes two). With x = (A <<< 12) + T_j + E:
 *  - the new E = P0(H + W_j + GG + SS1) is ready 5 cycles after x in rounds 0-15 and 6 in rounds
 *    16-63 (GG's two E terms and SS1 arrive late), and the next x one cycle after it: a round
 *    takes at least 6 resp. 7 cycles, a block 432;
 *  - T_j is added to A <<< 12 first (two-part lea) and E last, and SS1 is H's last addition;
 *  - in rounds 16-63 the A side (SS2, FF, TT1) is written after P0: the scheduler issues the
 *    oldest ready instruction first, and the A side has slack there. In rounds 0-15 it has none
 *    (the new A is needed 2 cycles after it is ready) and stays before P0.
 * Measured alone (Zen 4, cycles a block): the rounds over a ready schedule 436 (432 is the
 * bound above); with the message loaded in the loop 447; with the expansion beside them 451.
 *
 * The round macros SM3_P0, SM3_P0_BP, SM3_R1 and SM3_R2 are in sm3_rounds.s, which sm3_asm.rs
 * puts in front of this file (sm3_avx.s, for CPUs without AVX-512, shares them).
 */

/* Message expansion (§5.3.2) of one group: W_j, W_j+1, W_j+2 =
 * P1(W_j-16 ^ W_j-9 ^ (W_j-3 <<< 15)) ^ (W_j-13 <<< 7) ^ W_j-6 in lanes 0-2, from registers holding
 * those operands (three words each, gathered by the lines before each use), into register g and
 * the stack at offset off. Temporaries %xmm4-%xmm6 (%xmm4 only after w3, w16 and w9 are used). */
.macro SM3_W3 w3, w16, w9, w13, w6, g, off
    vprold      $15, \w3, %xmm5
    vpternlogd  $0x96, \w9, \w16, %xmm5
    vprold      $15, %xmm5, %xmm6
    vprold      $23, %xmm5, %xmm4
    vpternlogd  $0x96, %xmm4, %xmm6, %xmm5      /* P1 */
    vprold      $7, \w13, %xmm6
    vpternlogd  $0x96, \w6, %xmm6, %xmm5
    vmovdqa32   %xmm5, \g
    vmovdqu32   %xmm5, \off(%rsp)
.endm

/* The code. Each round line gives T_j <<< j (as a signed 32-bit displacement), the stack offset
 * of W_j and the registers holding A-H in that round. Each group "W_j, W_j+1, W_j+2" gathers the
 * operands of SM3_W3 that straddle two registers, with valignd (message words: four valid lanes)
 * or vpermi2d (groups: three), into %xmm4, %xmm8, %xmm13, %xmm14 and %xmm7. Group g is emitted after round 3g, 12 rounds before
 * round 3g + 12 first reads its words (as W_j+4). The round and group lines were written out by
 * a script, which is not kept: they are checked by the tests of simd/sm3_tests.rs. */
    pushq   %rbx
    pushq   %rbp
    pushq   %rcx                    /* the block count, decremented in memory */
    subq    $288, %rsp              /* W_0..W_71 */
    vmovdqu (%rdx), %xmm15          /* byte-swap mask */
    vmovdqu 16(%rdx), %xmm9         /* vpermi2d indices 1, 2, 4, 5 */
    vmovdqu 32(%rdx), %xmm10        /* vpermi2d indices 2, 4, 5, 6 */
    movl    0(%rdi), %r8d
    movl    4(%rdi), %r9d
    movl    8(%rdi), %r10d
    movl    12(%rdi), %r11d
    movl    16(%rdi), %r12d
    movl    20(%rdi), %r13d
    movl    24(%rdi), %r14d
    movl    28(%rdi), %r15d
    vmovdqu 0(%rsi), %xmm0
    vmovdqu 16(%rsi), %xmm1
    vmovdqu 32(%rsi), %xmm2
    vmovdqu 48(%rsi), %xmm3
    vpshufb %xmm15, %xmm0, %xmm0
    vpshufb %xmm15, %xmm1, %xmm1
    vpshufb %xmm15, %xmm2, %xmm2
    vpshufb %xmm15, %xmm3, %xmm3
    vmovdqu %xmm0, 0(%rsp)
    vmovdqu %xmm1, 16(%rsp)
    vmovdqu %xmm2, 32(%rsp)
    vmovdqu %xmm3, 48(%rsp)
2:  /* one block, its W_0..W_15 in %xmm0-%xmm3 and on the stack */
    leaq    64(%rsi), %rdx          /* the next block, or this one again after the last */
    cmpq    $1, 288(%rsp)
    cmoveq  %rsi, %rdx
    SM3_R1  2043430169,   0, %r8d, %r9d, %r10d, %r11d, %r12d, %r13d, %r14d, %r15d   /* j = 0, T_j <<< j = 0x79cc4519 */
    /* W_16, W_17, W_18 */
    vpsrldq     $4, %xmm3, %xmm4
    valignd     $3, %xmm1, %xmm2, %xmm13
    valignd     $3, %xmm0, %xmm1, %xmm14
    valignd     $2, %xmm2, %xmm3, %xmm7
    SM3_W3      %xmm4, %xmm0, %xmm13, %xmm14, %xmm7, %xmm16, 64
    SM3_R1  -208106958,   4, %r11d, %r8d, %r9d, %r10d, %r15d, %r12d, %r13d, %r14d   /* j = 1, T_j <<< j = 0xf3988a32 */
    SM3_R1  -416213915,   8, %r10d, %r11d, %r8d, %r9d, %r14d, %r15d, %r12d, %r13d   /* j = 2, T_j <<< j = 0xe7311465 */
    SM3_R1  -832427829,  12, %r9d, %r10d, %r11d, %r8d, %r13d, %r14d, %r15d, %r12d   /* j = 3, T_j <<< j = 0xce6228cb */
    /* W_19, W_20, W_21 */
    valignd     $3, %xmm0, %xmm1, %xmm8
    valignd     $2, %xmm2, %xmm3, %xmm13
    valignd     $2, %xmm1, %xmm2, %xmm14
    vpsrldq     $4, %xmm3, %xmm7
    SM3_W3      %xmm16, %xmm8, %xmm13, %xmm14, %xmm7, %xmm17, 76
    SM3_R1 -1664855657,  16, %r8d, %r9d, %r10d, %r11d, %r12d, %r13d, %r14d, %r15d   /* j = 4, T_j <<< j = 0x9cc45197 */
    SM3_R1   965255983,  20, %r11d, %r8d, %r9d, %r10d, %r15d, %r12d, %r13d, %r14d   /* j = 5, T_j <<< j = 0x3988a32f */
    SM3_R1  1930511966,  24, %r10d, %r11d, %r8d, %r9d, %r14d, %r15d, %r12d, %r13d   /* j = 6, T_j <<< j = 0x7311465e */
    /* W_22, W_23, W_24 */
    valignd     $2, %xmm1, %xmm2, %xmm8
    vpsrldq     $4, %xmm3, %xmm13
    vpsrldq     $4, %xmm2, %xmm14
    SM3_W3      %xmm17, %xmm8, %xmm13, %xmm14, %xmm16, %xmm18, 88
    SM3_R1  -433943364,  28, %r9d, %r10d, %r11d, %r8d, %r13d, %r14d, %r15d, %r12d   /* j = 7, T_j <<< j = 0xe6228cbc */
    SM3_R1  -867886727,  32, %r8d, %r9d, %r10d, %r11d, %r12d, %r13d, %r14d, %r15d   /* j = 8, T_j <<< j = 0xcc451979 */
    SM3_R1 -1735773453,  36, %r11d, %r8d, %r9d, %r10d, %r15d, %r12d, %r13d, %r14d   /* j = 9, T_j <<< j = 0x988a32f3 */
    /* W_25, W_26, W_27 */
    vpsrldq     $4, %xmm2, %xmm8
    SM3_W3      %xmm18, %xmm8, %xmm16, %xmm3, %xmm17, %xmm19, 100
    SM3_R1   823420391,  40, %r10d, %r11d, %r8d, %r9d, %r14d, %r15d, %r12d, %r13d   /* j = 10, T_j <<< j = 0x311465e7 */
    SM3_R1  1646840782,  44, %r9d, %r10d, %r11d, %r8d, %r13d, %r14d, %r15d, %r12d   /* j = 11, T_j <<< j = 0x6228cbce */
    SM3_R1 -1001285732,  48, %r8d, %r9d, %r10d, %r11d, %r12d, %r13d, %r14d, %r15d   /* j = 12, T_j <<< j = 0xc451979c */
    /* W_28, W_29, W_30 */
    valignd     $3, %xmm3, %xmm16, %xmm14
    SM3_W3      %xmm19, %xmm3, %xmm17, %xmm14, %xmm18, %xmm20, 112
    SM3_R1 -2002571463,  52, %r11d, %r8d, %r9d, %r10d, %r15d, %r12d, %r13d, %r14d   /* j = 13, T_j <<< j = 0x88a32f39 */
    SM3_R1   289824371,  56, %r10d, %r11d, %r8d, %r9d, %r14d, %r15d, %r12d, %r13d   /* j = 14, T_j <<< j = 0x11465e73 */
    SM3_R1   579648742,  60, %r9d, %r10d, %r11d, %r8d, %r13d, %r14d, %r15d, %r12d   /* j = 15, T_j <<< j = 0x228cbce6 */
    /* W_31, W_32, W_33 */
    valignd     $3, %xmm3, %xmm16, %xmm8
    vmovdqa32   %xmm10, %xmm14
    vpermi2d    %xmm17, %xmm16, %xmm14
    SM3_W3      %xmm20, %xmm8, %xmm18, %xmm14, %xmm19, %xmm21, 124
    SM3_R2 -1651869049,  64, %r8d, %r9d, %r10d, %r11d, %r12d, %r13d, %r14d, %r15d   /* j = 16, T_j <<< j = 0x9d8a7a87 */
    SM3_R2   991229199,  68, %r11d, %r8d, %r9d, %r10d, %r15d, %r12d, %r13d, %r14d   /* j = 17, T_j <<< j = 0x3b14f50f */
    SM3_R2  1982458398,  72, %r10d, %r11d, %r8d, %r9d, %r14d, %r15d, %r12d, %r13d   /* j = 18, T_j <<< j = 0x7629ea1e */
    /* W_34, W_35, W_36 */
    vmovdqa32   %xmm10, %xmm8
    vpermi2d    %xmm17, %xmm16, %xmm8
    vmovdqa32   %xmm10, %xmm14
    vpermi2d    %xmm18, %xmm17, %xmm14
    SM3_W3      %xmm21, %xmm8, %xmm19, %xmm14, %xmm20, %xmm22, 136
    SM3_R2  -330050500,  76, %r9d, %r10d, %r11d, %r8d, %r13d, %r14d, %r15d, %r12d   /* j = 19, T_j <<< j = 0xec53d43c */
    SM3_R2  -660100999,  80, %r8d, %r9d, %r10d, %r11d, %r12d, %r13d, %r14d, %r15d   /* j = 20, T_j <<< j = 0xd8a7a879 */
    SM3_R2 -1320201997,  84, %r11d, %r8d, %r9d, %r10d, %r15d, %r12d, %r13d, %r14d   /* j = 21, T_j <<< j = 0xb14f50f3 */
    /* W_37, W_38, W_39 */
    vmovdqa32   %xmm10, %xmm8
    vpermi2d    %xmm18, %xmm17, %xmm8
    vmovdqa32   %xmm10, %xmm14
    vpermi2d    %xmm19, %xmm18, %xmm14
    SM3_W3      %xmm22, %xmm8, %xmm20, %xmm14, %xmm21, %xmm23, 148
    SM3_R2  1654563303,  88, %r10d, %r11d, %r8d, %r9d, %r14d, %r15d, %r12d, %r13d   /* j = 22, T_j <<< j = 0x629ea1e7 */
    SM3_R2  -985840690,  92, %r9d, %r10d, %r11d, %r8d, %r13d, %r14d, %r15d, %r12d   /* j = 23, T_j <<< j = 0xc53d43ce */
    SM3_R2 -1971681379,  96, %r8d, %r9d, %r10d, %r11d, %r12d, %r13d, %r14d, %r15d   /* j = 24, T_j <<< j = 0x8a7a879d */
    /* W_40, W_41, W_42 */
    vmovdqa32   %xmm10, %xmm8
    vpermi2d    %xmm19, %xmm18, %xmm8
    vmovdqa32   %xmm10, %xmm14
    vpermi2d    %xmm20, %xmm19, %xmm14
    SM3_W3      %xmm23, %xmm8, %xmm21, %xmm14, %xmm22, %xmm24, 160
    SM3_R2   351604539, 100, %r11d, %r8d, %r9d, %r10d, %r15d, %r12d, %r13d, %r14d   /* j = 25, T_j <<< j = 0x14f50f3b */
    SM3_R2   703209078, 104, %r10d, %r11d, %r8d, %r9d, %r14d, %r15d, %r12d, %r13d   /* j = 26, T_j <<< j = 0x29ea1e76 */
    SM3_R2  1406418156, 108, %r9d, %r10d, %r11d, %r8d, %r13d, %r14d, %r15d, %r12d   /* j = 27, T_j <<< j = 0x53d43cec */
    /* W_43, W_44, W_45 */
    vmovdqa32   %xmm10, %xmm8
    vpermi2d    %xmm20, %xmm19, %xmm8
    vmovdqa32   %xmm10, %xmm14
    vpermi2d    %xmm21, %xmm20, %xmm14
    SM3_W3      %xmm24, %xmm8, %xmm22, %xmm14, %xmm23, %xmm25, 172
    SM3_R2 -1482130984, 112, %r8d, %r9d, %r10d, %r11d, %r12d, %r13d, %r14d, %r15d   /* j = 28, T_j <<< j = 0xa7a879d8 */
    SM3_R2  1330705329, 116, %r11d, %r8d, %r9d, %r10d, %r15d, %r12d, %r13d, %r14d   /* j = 29, T_j <<< j = 0x4f50f3b1 */
    SM3_R2 -1633556638, 120, %r10d, %r11d, %r8d, %r9d, %r14d, %r15d, %r12d, %r13d   /* j = 30, T_j <<< j = 0x9ea1e762 */
    /* W_46, W_47, W_48 */
    vmovdqa32   %xmm10, %xmm8
    vpermi2d    %xmm21, %xmm20, %xmm8
    vmovdqa32   %xmm10, %xmm14
    vpermi2d    %xmm22, %xmm21, %xmm14
    SM3_W3      %xmm25, %xmm8, %xmm23, %xmm14, %xmm24, %xmm26, 184
    SM3_R2  1027854021, 124, %r9d, %r10d, %r11d, %r8d, %r13d, %r14d, %r15d, %r12d   /* j = 31, T_j <<< j = 0x3d43cec5 */
    SM3_R2  2055708042, 128, %r8d, %r9d, %r10d, %r11d, %r12d, %r13d, %r14d, %r15d   /* j = 32, T_j <<< j = 0x7a879d8a */
    SM3_R2  -183551212, 132, %r11d, %r8d, %r9d, %r10d, %r15d, %r12d, %r13d, %r14d   /* j = 33, T_j <<< j = 0xf50f3b14 */
    /* W_49, W_50, W_51 */
    vmovdqa32   %xmm10, %xmm8
    vpermi2d    %xmm22, %xmm21, %xmm8
    vmovdqa32   %xmm10, %xmm14
    vpermi2d    %xmm23, %xmm22, %xmm14
    SM3_W3      %xmm26, %xmm8, %xmm24, %xmm14, %xmm25, %xmm27, 196
    SM3_R2  -367102423, 136, %r10d, %r11d, %r8d, %r9d, %r14d, %r15d, %r12d, %r13d   /* j = 34, T_j <<< j = 0xea1e7629 */
    SM3_R2  -734204845, 140, %r9d, %r10d, %r11d, %r8d, %r13d, %r14d, %r15d, %r12d   /* j = 35, T_j <<< j = 0xd43cec53 */
    SM3_R2 -1468409689, 144, %r8d, %r9d, %r10d, %r11d, %r12d, %r13d, %r14d, %r15d   /* j = 36, T_j <<< j = 0xa879d8a7 */
    /* W_52, W_53, W_54 */
    vmovdqa32   %xmm10, %xmm8
    vpermi2d    %xmm23, %xmm22, %xmm8
    vmovdqa32   %xmm10, %xmm14
    vpermi2d    %xmm24, %xmm23, %xmm14
    SM3_W3      %xmm27, %xmm8, %xmm25, %xmm14, %xmm26, %xmm28, 208
    SM3_R2  1358147919, 148, %r11d, %r8d, %r9d, %r10d, %r15d, %r12d, %r13d, %r14d   /* j = 37, T_j <<< j = 0x50f3b14f */
    SM3_R2 -1578671458, 152, %r10d, %r11d, %r8d, %r9d, %r14d, %r15d, %r12d, %r13d   /* j = 38, T_j <<< j = 0xa1e7629e */
    SM3_R2  1137624381, 156, %r9d, %r10d, %r11d, %r8d, %r13d, %r14d, %r15d, %r12d   /* j = 39, T_j <<< j = 0x43cec53d */
    /* W_55, W_56, W_57 */
    vmovdqa32   %xmm10, %xmm8
    vpermi2d    %xmm24, %xmm23, %xmm8
    vmovdqa32   %xmm10, %xmm14
    vpermi2d    %xmm25, %xmm24, %xmm14
    SM3_W3      %xmm28, %xmm8, %xmm26, %xmm14, %xmm27, %xmm29, 220
    SM3_R2 -2019718534, 160, %r8d, %r9d, %r10d, %r11d, %r12d, %r13d, %r14d, %r15d   /* j = 40, T_j <<< j = 0x879d8a7a */
    /* the next block's W_0..W_15 (the rounds are past W_15, the expansion past W_31) */
    vmovdqu 0(%rdx), %xmm0
    vmovdqu 16(%rdx), %xmm1
    vmovdqu 32(%rdx), %xmm2
    vmovdqu 48(%rdx), %xmm3
    vpshufb %xmm15, %xmm0, %xmm0
    vpshufb %xmm15, %xmm1, %xmm1
    vpshufb %xmm15, %xmm2, %xmm2
    vpshufb %xmm15, %xmm3, %xmm3
    vmovdqu %xmm0, 0(%rsp)
    vmovdqu %xmm1, 16(%rsp)
    vmovdqu %xmm2, 32(%rsp)
    vmovdqu %xmm3, 48(%rsp)
    SM3_R2   255530229, 164, %r11d, %r8d, %r9d, %r10d, %r15d, %r12d, %r13d, %r14d   /* j = 41, T_j <<< j = 0x0f3b14f5 */
    SM3_R2   511060458, 168, %r10d, %r11d, %r8d, %r9d, %r14d, %r15d, %r12d, %r13d   /* j = 42, T_j <<< j = 0x1e7629ea */
    /* W_58, W_59, W_60 */
    vmovdqa32   %xmm10, %xmm8
    vpermi2d    %xmm25, %xmm24, %xmm8
    vmovdqa32   %xmm10, %xmm14
    vpermi2d    %xmm26, %xmm25, %xmm14
    SM3_W3      %xmm29, %xmm8, %xmm27, %xmm14, %xmm28, %xmm30, 232
    SM3_R2  1022120916, 172, %r9d, %r10d, %r11d, %r8d, %r13d, %r14d, %r15d, %r12d   /* j = 43, T_j <<< j = 0x3cec53d4 */
    SM3_R2  2044241832, 176, %r8d, %r9d, %r10d, %r11d, %r12d, %r13d, %r14d, %r15d   /* j = 44, T_j <<< j = 0x79d8a7a8 */
    SM3_R2  -206483632, 180, %r11d, %r8d, %r9d, %r10d, %r15d, %r12d, %r13d, %r14d   /* j = 45, T_j <<< j = 0xf3b14f50 */
    /* W_61, W_62, W_63 */
    vmovdqa32   %xmm10, %xmm8
    vpermi2d    %xmm26, %xmm25, %xmm8
    vmovdqa32   %xmm10, %xmm14
    vpermi2d    %xmm27, %xmm26, %xmm14
    SM3_W3      %xmm30, %xmm8, %xmm28, %xmm14, %xmm29, %xmm31, 244
    SM3_R2  -412967263, 184, %r10d, %r11d, %r8d, %r9d, %r14d, %r15d, %r12d, %r13d   /* j = 46, T_j <<< j = 0xe7629ea1 */
    SM3_R2  -825934525, 188, %r9d, %r10d, %r11d, %r8d, %r13d, %r14d, %r15d, %r12d   /* j = 47, T_j <<< j = 0xcec53d43 */
    SM3_R2 -1651869049, 192, %r8d, %r9d, %r10d, %r11d, %r12d, %r13d, %r14d, %r15d   /* j = 48, T_j <<< j = 0x9d8a7a87 */
    /* W_64, W_65, W_66 */
    vmovdqa32   %xmm10, %xmm8
    vpermi2d    %xmm27, %xmm26, %xmm8
    vmovdqa32   %xmm10, %xmm14
    vpermi2d    %xmm28, %xmm27, %xmm14
    SM3_W3      %xmm31, %xmm8, %xmm29, %xmm14, %xmm30, %xmm11, 256
    SM3_R2   991229199, 196, %r11d, %r8d, %r9d, %r10d, %r15d, %r12d, %r13d, %r14d   /* j = 49, T_j <<< j = 0x3b14f50f */
    SM3_R2  1982458398, 200, %r10d, %r11d, %r8d, %r9d, %r14d, %r15d, %r12d, %r13d   /* j = 50, T_j <<< j = 0x7629ea1e */
    SM3_R2  -330050500, 204, %r9d, %r10d, %r11d, %r8d, %r13d, %r14d, %r15d, %r12d   /* j = 51, T_j <<< j = 0xec53d43c */
    /* W_67, W_68, W_69 */
    vmovdqa32   %xmm10, %xmm8
    vpermi2d    %xmm28, %xmm27, %xmm8
    vmovdqa32   %xmm10, %xmm14
    vpermi2d    %xmm29, %xmm28, %xmm14
    SM3_W3      %xmm11, %xmm8, %xmm30, %xmm14, %xmm31, %xmm12, 268
    SM3_R2  -660100999, 208, %r8d, %r9d, %r10d, %r11d, %r12d, %r13d, %r14d, %r15d   /* j = 52, T_j <<< j = 0xd8a7a879 */
    SM3_R2 -1320201997, 212, %r11d, %r8d, %r9d, %r10d, %r15d, %r12d, %r13d, %r14d   /* j = 53, T_j <<< j = 0xb14f50f3 */
    SM3_R2  1654563303, 216, %r10d, %r11d, %r8d, %r9d, %r14d, %r15d, %r12d, %r13d   /* j = 54, T_j <<< j = 0x629ea1e7 */
    SM3_R2  -985840690, 220, %r9d, %r10d, %r11d, %r8d, %r13d, %r14d, %r15d, %r12d   /* j = 55, T_j <<< j = 0xc53d43ce */
    SM3_R2 -1971681379, 224, %r8d, %r9d, %r10d, %r11d, %r12d, %r13d, %r14d, %r15d   /* j = 56, T_j <<< j = 0x8a7a879d */
    SM3_R2   351604539, 228, %r11d, %r8d, %r9d, %r10d, %r15d, %r12d, %r13d, %r14d   /* j = 57, T_j <<< j = 0x14f50f3b */
    SM3_R2   703209078, 232, %r10d, %r11d, %r8d, %r9d, %r14d, %r15d, %r12d, %r13d   /* j = 58, T_j <<< j = 0x29ea1e76 */
    SM3_R2  1406418156, 236, %r9d, %r10d, %r11d, %r8d, %r13d, %r14d, %r15d, %r12d   /* j = 59, T_j <<< j = 0x53d43cec */
    SM3_R2 -1482130984, 240, %r8d, %r9d, %r10d, %r11d, %r12d, %r13d, %r14d, %r15d   /* j = 60, T_j <<< j = 0xa7a879d8 */
    SM3_R2  1330705329, 244, %r11d, %r8d, %r9d, %r10d, %r15d, %r12d, %r13d, %r14d   /* j = 61, T_j <<< j = 0x4f50f3b1 */
    SM3_R2 -1633556638, 248, %r10d, %r11d, %r8d, %r9d, %r14d, %r15d, %r12d, %r13d   /* j = 62, T_j <<< j = 0x9ea1e762 */
    SM3_R2  1027854021, 252, %r9d, %r10d, %r11d, %r8d, %r13d, %r14d, %r15d, %r12d   /* j = 63, T_j <<< j = 0x3d43cec5 */
/* Feed-forward: V ^= ABCDEFGH, kept in registers for the next block. */
    xorl    0(%rdi), %r8d
    movl    %r8d, 0(%rdi)
    xorl    4(%rdi), %r9d
    movl    %r9d, 4(%rdi)
    xorl    8(%rdi), %r10d
    movl    %r10d, 8(%rdi)
    xorl    12(%rdi), %r11d
    movl    %r11d, 12(%rdi)
    xorl    16(%rdi), %r12d
    movl    %r12d, 16(%rdi)
    xorl    20(%rdi), %r13d
    movl    %r13d, 20(%rdi)
    xorl    24(%rdi), %r14d
    movl    %r14d, 24(%rdi)
    xorl    28(%rdi), %r15d
    movl    %r15d, 28(%rdi)
    movq    %rdx, %rsi              /* the next block */
    decq    288(%rsp)
    jnz     2b
    addq    $288, %rsp
    popq    %rcx
    popq    %rbp
    popq    %rbx
.purgem SM3_W3
.purgem SM3_R2
.purgem SM3_R1
.purgem SM3_P0
.purgem SM3_P0_BP
