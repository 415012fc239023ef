//! The 64 SM3 rounds of whole blocks in hand-scheduled x86-64 assembly (GB/T 32905-2016
//! §5.3.3), over a message schedule computed ahead (`sm3_mb::compress_single`).
//!
//! Why assembly: the rounds are bound by the E -> E dependency chain, and what decides how close
//! they come to it is the order of the instructions (the scheduler issues the oldest ready one
//! first), which the compiler does not keep: the same rounds in Rust (`sm3.rs`) take about 8.5
//! cycles where these take 7 (the `.s` file's header has the critical paths and figures).

/// For each of `n` blocks: `v ^= rounds(v, W)`. Block `k`'s `W_j` is `*w.add(16 * j + k)` (the
/// lane-major schedule of `sm3_mb`); `W'_j` is formed in the rounds.
///
/// # Safety
/// The CPU must support BMI1 and BMI2; `1 <= n <= 16`; `w` must be valid for reads of `16 * 68`
/// words.
#[inline]
#[target_feature(enable = "bmi1,bmi2")]
pub(crate) unsafe fn rounds(v: &mut [u32; 8], w: *const u32, n: usize) {
    debug_assert!((1..=16).contains(&n));
    // SAFETY: the template reads V and the schedule within the bounds stated above and writes V
    // only; every register it changes is declared, %rbx and %rbp are pushed and popped (the
    // block is not `nostack`, so the red zone is free).
    unsafe {
        core::arch::asm!(
            include_str!("sm3_rounds_x86_64.s"),
            in("rdi") v.as_mut_ptr(),
            in("rsi") w,
            inout("rcx") n => _,
            out("rax") _,
            out("r8") _, out("r9") _, out("r10") _, out("r11") _,
            out("r12") _, out("r13") _, out("r14") _, out("r15") _,
            options(att_syntax),
        );
    }
}
