/* SM3 compression, the 64 rounds of whole blocks (GB/T 32905-2016 §5.3.2-§5.3.3), x86-64 with
 * BMI1/BMI2. Included by native/src/simd/sm3_rounds_asm.rs as one inline `asm!` block (AT&T;
 * being an `asm!` template, this file has no braces).
 *
 * In:  %rdi = V (eight u32; after each block V ^= ABCDEFGH, §5.3.2),
 *      %rsi = &W_0 of the first block in the lane-major schedule of sm3_mb.rs: W_j of block k
 *      is at %rsi + 64 j + 4 k; %rcx = number of blocks (>= 1).
 *      W'_j = W_j ^ W_(j+4) is formed in the round (a load and an XOR: 436 cycles a block against
 *      445 reading a stored W', and the schedule no longer writes W').
 * A-H live in %r8d-%r15d, their roles rotating as in sm3_scalar.rs (a round's new A is written
 * over D, its new E over H); %eax, %ecx, %ebx and %ebp are temporaries (the last two saved).
 *
 * Scheduling (measured on Zen 4: add, xor, and, andn, rol, rorx, two-part lea take one cycle,
 * rotations issue on two ports, a three-part lea takes two). With x = (A <<< 12) + T_j + E:
 *  - the new E = P0(H + W_j + GG + SS1) is ready 5 cycles after x in rounds 0-15 and 6 in rounds
 *    16-63 (GG's two E terms and SS1 all arrive late), and the next x one cycle after it, so a
 *    round cannot take fewer than 6 resp. 7 cycles: 432 cycles a block;
 *  - T_j is added to A <<< 12 first (two-part lea) and E last, and SS1 is H's last addition;
 *  - in rounds 16-63 the A side (SS2, FF, TT1) is written after P0: the scheduler issues the
 *    oldest ready instruction first, and the A side has slack there. In rounds 0-15 it has none
 *    (the new A is needed 2 cycles after it is ready) and stays before P0.
 * Measured alone (blocks over a fixed schedule, Zen 4): 436 cycles a block, against the 432 of
 * the bound above (with a stored W': 6.5 cycles a round in rounds 0-15, 7.1 in 16-63).
 */
.macro SM3_P0 h
    rorxl   $23, \h, %eax           /* H <<< 9 */
    rorxl   $15, \h, %ecx           /* H <<< 17 */
    xorl    %eax, \h
    xorl    %ecx, \h
.endm

/* Rounds 0-15: FF = A ^ B ^ C, GG = E ^ F ^ G. */
/* P0 into the two temporaries that are free in the middle of a round 16-63. */
.macro SM3_P0_BP h
    rorxl   $23, \h, %ebx
    rorxl   $15, \h, %ebp
    xorl    %ebx, \h
    xorl    %ebp, \h
.endm

.macro SM3_R1 t, w, a, b, c, d, e, f, g, h
    rorxl   $20, \a, %eax           /* A <<< 12 */
    leal    \t(%rax), %ecx          /* + T_j <<< j */
    addl    \e, %ecx
    roll    $7, %ecx                /* SS1 */
    addl    \w(%rsi), \h            /* H + W_j */
    movl    256+\w(%rsi), %ebp       /* W_(j+4) */
    xorl    \w(%rsi), %ebp           /* W'_j */
    addl    %ebp, \d                /* D + W'_j */
    xorl    %ecx, %eax              /* SS2 = SS1 ^ (A <<< 12) */
    movl    \b, %ebx
    xorl    \c, %ebx
    xorl    \a, %ebx                /* FF */
    addl    %ebx, \d
    movl    \f, %ebp
    xorl    \g, %ebp
    xorl    \e, %ebp                /* GG */
    addl    %ebp, \h
    addl    %ecx, \h                /* TT2 */
    addl    %eax, \d                /* TT1: the new A */
    roll    $9, \b
    roll    $19, \f
    SM3_P0  \h                      /* the new E */
.endm

/* Rounds 16-63: FF = MAJ(A, B, C) = (A & (B ^ C)) + (B & C) and GG = (E & F) + (~E & G): the
 * two parts of each have no bit in common, so + equals | and both go straight into the sums. */
.macro SM3_R2 t, w, a, b, c, d, e, f, g, h
    rorxl   $20, \a, %eax           /* A <<< 12 */
    leal    \t(%rax), %ecx          /* + T_j <<< j */
    addl    \e, %ecx
    roll    $7, %ecx                /* SS1 */
    addl    \w(%rsi), \h            /* H + W_j */
    andnl   \g, \e, %ebx            /* ~E & G */
    movl    \f, %ebp
    andl    \e, %ebp                /* E & F */
    addl    %ebx, \h
    addl    %ebp, \h                /* + GG */
    addl    %ecx, \h                /* TT2 */
    SM3_P0_BP \h                    /* the new E */
    xorl    %ecx, %eax              /* SS2 */
    movl    256+\w(%rsi), %ebx       /* W_(j+4) */
    xorl    \w(%rsi), %ebx           /* W'_j */
    addl    %ebx, \d                /* D + W'_j */
    movl    \b, %ebx
    andl    \c, %ebx
    addl    %ebx, \d                /* + (B & C) */
    movl    \b, %ebx
    xorl    \c, %ebx
    andl    \a, %ebx
    addl    %ebx, \d                /* + (A & (B ^ C)) */
    addl    %eax, \d                /* TT1: the new A */
    roll    $9, \b
    roll    $19, \f
.endm

    pushq   %rbx
    pushq   %rbp
    pushq   %rcx                    /* the block count, decremented in memory */
    movl    0(%rdi), %r8d
    movl    4(%rdi), %r9d
    movl    8(%rdi), %r10d
    movl    12(%rdi), %r11d
    movl    16(%rdi), %r12d
    movl    20(%rdi), %r13d
    movl    24(%rdi), %r14d
    movl    28(%rdi), %r15d
2:  /* one block */
/* One line per round: T_j <<< j (as a signed 32-bit displacement), the offset of W_j and W'_j,
 * and the registers holding A-H in that round. */
    SM3_R1  2043430169,    0, %r8d, %r9d, %r10d, %r11d, %r12d, %r13d, %r14d, %r15d   /* j = 0, T_j <<< j = 0x79cc4519 */
    SM3_R1  -208106958,   64, %r11d, %r8d, %r9d, %r10d, %r15d, %r12d, %r13d, %r14d   /* j = 1, T_j <<< j = 0xf3988a32 */
    SM3_R1  -416213915,  128, %r10d, %r11d, %r8d, %r9d, %r14d, %r15d, %r12d, %r13d   /* j = 2, T_j <<< j = 0xe7311465 */
    SM3_R1  -832427829,  192, %r9d, %r10d, %r11d, %r8d, %r13d, %r14d, %r15d, %r12d   /* j = 3, T_j <<< j = 0xce6228cb */
    SM3_R1 -1664855657,  256, %r8d, %r9d, %r10d, %r11d, %r12d, %r13d, %r14d, %r15d   /* j = 4, T_j <<< j = 0x9cc45197 */
    SM3_R1   965255983,  320, %r11d, %r8d, %r9d, %r10d, %r15d, %r12d, %r13d, %r14d   /* j = 5, T_j <<< j = 0x3988a32f */
    SM3_R1  1930511966,  384, %r10d, %r11d, %r8d, %r9d, %r14d, %r15d, %r12d, %r13d   /* j = 6, T_j <<< j = 0x7311465e */
    SM3_R1  -433943364,  448, %r9d, %r10d, %r11d, %r8d, %r13d, %r14d, %r15d, %r12d   /* j = 7, T_j <<< j = 0xe6228cbc */
    SM3_R1  -867886727,  512, %r8d, %r9d, %r10d, %r11d, %r12d, %r13d, %r14d, %r15d   /* j = 8, T_j <<< j = 0xcc451979 */
    SM3_R1 -1735773453,  576, %r11d, %r8d, %r9d, %r10d, %r15d, %r12d, %r13d, %r14d   /* j = 9, T_j <<< j = 0x988a32f3 */
    SM3_R1   823420391,  640, %r10d, %r11d, %r8d, %r9d, %r14d, %r15d, %r12d, %r13d   /* j = 10, T_j <<< j = 0x311465e7 */
    SM3_R1  1646840782,  704, %r9d, %r10d, %r11d, %r8d, %r13d, %r14d, %r15d, %r12d   /* j = 11, T_j <<< j = 0x6228cbce */
    SM3_R1 -1001285732,  768, %r8d, %r9d, %r10d, %r11d, %r12d, %r13d, %r14d, %r15d   /* j = 12, T_j <<< j = 0xc451979c */
    SM3_R1 -2002571463,  832, %r11d, %r8d, %r9d, %r10d, %r15d, %r12d, %r13d, %r14d   /* j = 13, T_j <<< j = 0x88a32f39 */
    SM3_R1   289824371,  896, %r10d, %r11d, %r8d, %r9d, %r14d, %r15d, %r12d, %r13d   /* j = 14, T_j <<< j = 0x11465e73 */
    SM3_R1   579648742,  960, %r9d, %r10d, %r11d, %r8d, %r13d, %r14d, %r15d, %r12d   /* j = 15, T_j <<< j = 0x228cbce6 */
    SM3_R2 -1651869049, 1024, %r8d, %r9d, %r10d, %r11d, %r12d, %r13d, %r14d, %r15d   /* j = 16, T_j <<< j = 0x9d8a7a87 */
    SM3_R2   991229199, 1088, %r11d, %r8d, %r9d, %r10d, %r15d, %r12d, %r13d, %r14d   /* j = 17, T_j <<< j = 0x3b14f50f */
    SM3_R2  1982458398, 1152, %r10d, %r11d, %r8d, %r9d, %r14d, %r15d, %r12d, %r13d   /* j = 18, T_j <<< j = 0x7629ea1e */
    SM3_R2  -330050500, 1216, %r9d, %r10d, %r11d, %r8d, %r13d, %r14d, %r15d, %r12d   /* j = 19, T_j <<< j = 0xec53d43c */
    SM3_R2  -660100999, 1280, %r8d, %r9d, %r10d, %r11d, %r12d, %r13d, %r14d, %r15d   /* j = 20, T_j <<< j = 0xd8a7a879 */
    SM3_R2 -1320201997, 1344, %r11d, %r8d, %r9d, %r10d, %r15d, %r12d, %r13d, %r14d   /* j = 21, T_j <<< j = 0xb14f50f3 */
    SM3_R2  1654563303, 1408, %r10d, %r11d, %r8d, %r9d, %r14d, %r15d, %r12d, %r13d   /* j = 22, T_j <<< j = 0x629ea1e7 */
    SM3_R2  -985840690, 1472, %r9d, %r10d, %r11d, %r8d, %r13d, %r14d, %r15d, %r12d   /* j = 23, T_j <<< j = 0xc53d43ce */
    SM3_R2 -1971681379, 1536, %r8d, %r9d, %r10d, %r11d, %r12d, %r13d, %r14d, %r15d   /* j = 24, T_j <<< j = 0x8a7a879d */
    SM3_R2   351604539, 1600, %r11d, %r8d, %r9d, %r10d, %r15d, %r12d, %r13d, %r14d   /* j = 25, T_j <<< j = 0x14f50f3b */
    SM3_R2   703209078, 1664, %r10d, %r11d, %r8d, %r9d, %r14d, %r15d, %r12d, %r13d   /* j = 26, T_j <<< j = 0x29ea1e76 */
    SM3_R2  1406418156, 1728, %r9d, %r10d, %r11d, %r8d, %r13d, %r14d, %r15d, %r12d   /* j = 27, T_j <<< j = 0x53d43cec */
    SM3_R2 -1482130984, 1792, %r8d, %r9d, %r10d, %r11d, %r12d, %r13d, %r14d, %r15d   /* j = 28, T_j <<< j = 0xa7a879d8 */
    SM3_R2  1330705329, 1856, %r11d, %r8d, %r9d, %r10d, %r15d, %r12d, %r13d, %r14d   /* j = 29, T_j <<< j = 0x4f50f3b1 */
    SM3_R2 -1633556638, 1920, %r10d, %r11d, %r8d, %r9d, %r14d, %r15d, %r12d, %r13d   /* j = 30, T_j <<< j = 0x9ea1e762 */
    SM3_R2  1027854021, 1984, %r9d, %r10d, %r11d, %r8d, %r13d, %r14d, %r15d, %r12d   /* j = 31, T_j <<< j = 0x3d43cec5 */
    SM3_R2  2055708042, 2048, %r8d, %r9d, %r10d, %r11d, %r12d, %r13d, %r14d, %r15d   /* j = 32, T_j <<< j = 0x7a879d8a */
    SM3_R2  -183551212, 2112, %r11d, %r8d, %r9d, %r10d, %r15d, %r12d, %r13d, %r14d   /* j = 33, T_j <<< j = 0xf50f3b14 */
    SM3_R2  -367102423, 2176, %r10d, %r11d, %r8d, %r9d, %r14d, %r15d, %r12d, %r13d   /* j = 34, T_j <<< j = 0xea1e7629 */
    SM3_R2  -734204845, 2240, %r9d, %r10d, %r11d, %r8d, %r13d, %r14d, %r15d, %r12d   /* j = 35, T_j <<< j = 0xd43cec53 */
    SM3_R2 -1468409689, 2304, %r8d, %r9d, %r10d, %r11d, %r12d, %r13d, %r14d, %r15d   /* j = 36, T_j <<< j = 0xa879d8a7 */
    SM3_R2  1358147919, 2368, %r11d, %r8d, %r9d, %r10d, %r15d, %r12d, %r13d, %r14d   /* j = 37, T_j <<< j = 0x50f3b14f */
    SM3_R2 -1578671458, 2432, %r10d, %r11d, %r8d, %r9d, %r14d, %r15d, %r12d, %r13d   /* j = 38, T_j <<< j = 0xa1e7629e */
    SM3_R2  1137624381, 2496, %r9d, %r10d, %r11d, %r8d, %r13d, %r14d, %r15d, %r12d   /* j = 39, T_j <<< j = 0x43cec53d */
    SM3_R2 -2019718534, 2560, %r8d, %r9d, %r10d, %r11d, %r12d, %r13d, %r14d, %r15d   /* j = 40, T_j <<< j = 0x879d8a7a */
    SM3_R2   255530229, 2624, %r11d, %r8d, %r9d, %r10d, %r15d, %r12d, %r13d, %r14d   /* j = 41, T_j <<< j = 0x0f3b14f5 */
    SM3_R2   511060458, 2688, %r10d, %r11d, %r8d, %r9d, %r14d, %r15d, %r12d, %r13d   /* j = 42, T_j <<< j = 0x1e7629ea */
    SM3_R2  1022120916, 2752, %r9d, %r10d, %r11d, %r8d, %r13d, %r14d, %r15d, %r12d   /* j = 43, T_j <<< j = 0x3cec53d4 */
    SM3_R2  2044241832, 2816, %r8d, %r9d, %r10d, %r11d, %r12d, %r13d, %r14d, %r15d   /* j = 44, T_j <<< j = 0x79d8a7a8 */
    SM3_R2  -206483632, 2880, %r11d, %r8d, %r9d, %r10d, %r15d, %r12d, %r13d, %r14d   /* j = 45, T_j <<< j = 0xf3b14f50 */
    SM3_R2  -412967263, 2944, %r10d, %r11d, %r8d, %r9d, %r14d, %r15d, %r12d, %r13d   /* j = 46, T_j <<< j = 0xe7629ea1 */
    SM3_R2  -825934525, 3008, %r9d, %r10d, %r11d, %r8d, %r13d, %r14d, %r15d, %r12d   /* j = 47, T_j <<< j = 0xcec53d43 */
    SM3_R2 -1651869049, 3072, %r8d, %r9d, %r10d, %r11d, %r12d, %r13d, %r14d, %r15d   /* j = 48, T_j <<< j = 0x9d8a7a87 */
    SM3_R2   991229199, 3136, %r11d, %r8d, %r9d, %r10d, %r15d, %r12d, %r13d, %r14d   /* j = 49, T_j <<< j = 0x3b14f50f */
    SM3_R2  1982458398, 3200, %r10d, %r11d, %r8d, %r9d, %r14d, %r15d, %r12d, %r13d   /* j = 50, T_j <<< j = 0x7629ea1e */
    SM3_R2  -330050500, 3264, %r9d, %r10d, %r11d, %r8d, %r13d, %r14d, %r15d, %r12d   /* j = 51, T_j <<< j = 0xec53d43c */
    SM3_R2  -660100999, 3328, %r8d, %r9d, %r10d, %r11d, %r12d, %r13d, %r14d, %r15d   /* j = 52, T_j <<< j = 0xd8a7a879 */
    SM3_R2 -1320201997, 3392, %r11d, %r8d, %r9d, %r10d, %r15d, %r12d, %r13d, %r14d   /* j = 53, T_j <<< j = 0xb14f50f3 */
    SM3_R2  1654563303, 3456, %r10d, %r11d, %r8d, %r9d, %r14d, %r15d, %r12d, %r13d   /* j = 54, T_j <<< j = 0x629ea1e7 */
    SM3_R2  -985840690, 3520, %r9d, %r10d, %r11d, %r8d, %r13d, %r14d, %r15d, %r12d   /* j = 55, T_j <<< j = 0xc53d43ce */
    SM3_R2 -1971681379, 3584, %r8d, %r9d, %r10d, %r11d, %r12d, %r13d, %r14d, %r15d   /* j = 56, T_j <<< j = 0x8a7a879d */
    SM3_R2   351604539, 3648, %r11d, %r8d, %r9d, %r10d, %r15d, %r12d, %r13d, %r14d   /* j = 57, T_j <<< j = 0x14f50f3b */
    SM3_R2   703209078, 3712, %r10d, %r11d, %r8d, %r9d, %r14d, %r15d, %r12d, %r13d   /* j = 58, T_j <<< j = 0x29ea1e76 */
    SM3_R2  1406418156, 3776, %r9d, %r10d, %r11d, %r8d, %r13d, %r14d, %r15d, %r12d   /* j = 59, T_j <<< j = 0x53d43cec */
    SM3_R2 -1482130984, 3840, %r8d, %r9d, %r10d, %r11d, %r12d, %r13d, %r14d, %r15d   /* j = 60, T_j <<< j = 0xa7a879d8 */
    SM3_R2  1330705329, 3904, %r11d, %r8d, %r9d, %r10d, %r15d, %r12d, %r13d, %r14d   /* j = 61, T_j <<< j = 0x4f50f3b1 */
    SM3_R2 -1633556638, 3968, %r10d, %r11d, %r8d, %r9d, %r14d, %r15d, %r12d, %r13d   /* j = 62, T_j <<< j = 0x9ea1e762 */
    SM3_R2  1027854021, 4032, %r9d, %r10d, %r11d, %r8d, %r13d, %r14d, %r15d, %r12d   /* j = 63, T_j <<< j = 0x3d43cec5 */
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
    addq    $4, %rsi                /* the next block's lane */
    decq    (%rsp)
    jnz     2b
    popq    %rcx
    popq    %rbp
    popq    %rbx
.purgem SM3_R2
.purgem SM3_R1
.purgem SM3_P0
.purgem SM3_P0_BP
