/* The SM3 round macros (GB/T 32905-2016 §5.3.3) shared by the two compression templates,
 * sm3_x86_64.s (message expansion in AVX-512VL registers) and sm3_avx.s (in AVX registers,
 * generated from the first). sm3_asm.rs puts this file in front of either. Registers, the
 * rotation of roles and the scheduling are explained at the top of sm3_x86_64.s.
 */
.macro SM3_P0 h
    rorxl   $23, \h, %eax           /* H <<< 9 */
    rorxl   $15, \h, %ecx           /* H <<< 17 */
    xorl    %eax, \h
    xorl    %ecx, \h
.endm

/* P0 into the two temporaries that are free in the middle of a round 16-63. */
.macro SM3_P0_BP h
    rorxl   $23, \h, %ebx
    rorxl   $15, \h, %ebp
    xorl    %ebx, \h
    xorl    %ebp, \h
.endm

/* Rounds 0-15: FF = A ^ B ^ C, GG = E ^ F ^ G. */
.macro SM3_R1 t, w, a, b, c, d, e, f, g, h
    rorxl   $20, \a, %eax           /* A <<< 12 */
    leal    \t(%rax), %ecx          /* + T_j <<< j */
    addl    \e, %ecx
    roll    $7, %ecx                /* SS1 */
    addl    \w(%rsp), \h            /* H + W_j */
    movl    16+\w(%rsp), %ebp       /* W_(j+4) */
    xorl    \w(%rsp), %ebp          /* W'_j */
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
    addl    \w(%rsp), \h            /* H + W_j */
    andnl   \g, \e, %ebx            /* ~E & G */
    movl    \f, %ebp
    andl    \e, %ebp                /* E & F */
    addl    %ebx, \h
    addl    %ebp, \h                /* + GG */
    addl    %ecx, \h                /* TT2 */
    SM3_P0_BP \h                    /* the new E */
    xorl    %ecx, %eax              /* SS2 */
    movl    16+\w(%rsp), %ebx       /* W_(j+4) */
    xorl    \w(%rsp), %ebx          /* W'_j */
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
