//! SM3 compression in hand-scheduled x86-64 assembly (GB/T 32905-2016 §5.3): the 64 rounds on
//! the scalar ALUs (BMI1/BMI2, `sm3_rounds.s`), the message expansion beside them in AVX-512VL
//! registers (`sm3_x86_64.s`) or, on CPUs without AVX-512, in AVX registers (`sm3_avx.s`,
//! written by `native/tools/gen_sm3_avx.py` from the first, with the same rounds in the same
//! order).
//!
//! Why assembly: the rounds are bound by the E -> E dependency chain, and how close they come to
//! it depends on the order of the instructions (the scheduler issues the oldest ready one first),
//! which the compiler does not keep: the same rounds in Rust (`sm3.rs`) take about 8.5 cycles
//! where these take 7. The `.s` file's header has the critical paths and the figures.

/// The byte-swap mask for `vpshufb`, then the `vpermi2d` indices the expansion uses to gather
/// three words that straddle two groups.
static CONSTS: [u32; 12] = [
    0x0001_0203,
    0x0405_0607,
    0x0809_0a0b,
    0x0c0d_0e0f,
    1,
    2,
    4,
    5,
    2,
    4,
    5,
    6,
];

/// The `asm!` call of both templates: `sm3_rounds.s` followed by `$template`, with the operands
/// and clobbers they share (`$extra`: the template's further clobbers).
macro_rules! compress_asm {
    ($template:literal, $v:ident, $blocks:ident, $n:ident, $($extra:tt)*) => {
        core::arch::asm!(
            concat!(include_str!("sm3_rounds.s"), include_str!($template)),
            in("rdi") $v.as_mut_ptr(),
            in("rsi") $blocks.as_ptr(),
            inout("rdx") CONSTS.as_ptr() => _,
            inout("rcx") $n => _,
            out("rax") _,
            out("r8") _, out("r9") _, out("r10") _, out("r11") _,
            out("r12") _, out("r13") _, out("r14") _, out("r15") _,
            out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _,
            out("xmm4") _, out("xmm5") _, out("xmm6") _, out("xmm7") _,
            out("xmm8") _, out("xmm9") _, out("xmm10") _, out("xmm11") _,
            out("xmm12") _, out("xmm13") _, out("xmm14") _, out("xmm15") _,
            $($extra)*
            options(att_syntax),
        )
    };
}

/// Compresses whole 64-byte blocks into `v` (§5.3.2: `V_(i+1) = CF(V_i, B_i)`).
///
/// # Safety
/// The CPU must support AVX-512F, AVX-512VL, BMI1 and BMI2 ([`available`]).
#[target_feature(enable = "avx512f,avx512vl,bmi1,bmi2")]
pub(crate) unsafe fn compress(v: &mut [u32; 8], blocks: &[u8]) {
    debug_assert_eq!(blocks.len() % 64, 0);
    let n = blocks.len() / 64;
    if n == 0 {
        return;
    }
    // SAFETY: the template reads `n` blocks from `blocks`, the twelve words of CONSTS and V, and
    // writes V and its own stack frame (below %rsp; the block is not `nostack`); every register
    // it changes is declared, %rbx and %rbp are pushed and popped.
    unsafe {
        compress_asm!(
            "sm3_x86_64.s",
            v,
            blocks,
            n,
            out("xmm16") _, out("xmm17") _, out("xmm18") _, out("xmm19") _,
            out("xmm20") _, out("xmm21") _, out("xmm22") _, out("xmm23") _,
            out("xmm24") _, out("xmm25") _, out("xmm26") _, out("xmm27") _,
            out("xmm28") _, out("xmm29") _, out("xmm30") _, out("xmm31") _,
        );
    }
}

/// Whether this CPU can run [`compress`].
pub(crate) fn available() -> bool {
    ["avx512f", "avx512vl", "bmi1", "bmi2"]
        .into_iter()
        .all(crate::cpu::has)
}

/// [`compress`] with the message expansion in AVX registers (`sm3_avx.s`).
///
/// # Safety
/// The CPU must support AVX2, BMI1 and BMI2 ([`available_avx`]).
#[target_feature(enable = "avx2,bmi1,bmi2")]
pub(crate) unsafe fn compress_avx(v: &mut [u32; 8], blocks: &[u8]) {
    debug_assert_eq!(blocks.len() % 64, 0);
    let n = blocks.len() / 64;
    if n == 0 {
        return;
    }
    // SAFETY: as in `compress`; this template uses %xmm0-%xmm15 only and reads the byte-swap
    // mask (the first four words of CONSTS).
    unsafe {
        compress_asm!("sm3_avx.s", v, blocks, n,);
    }
}

/// Whether this CPU can run [`compress_avx`] (`vpblendd` is AVX2; every CPU with BMI2 has it).
pub(crate) fn available_avx() -> bool {
    ["avx2", "bmi1", "bmi2"].into_iter().all(crate::cpu::has)
}
