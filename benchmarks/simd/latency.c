/* Latency (dependent chains) and port throughput of the instructions SM3's rounds use, in cycles
 * of a dependent 32-bit `add` chain (1 cycle on every x86-64 core), one thread. It backs the
 * critical-path figures in native/src/simd/sm3_x86_64.s and docs/performance.md.
 *
 *   gcc -O2 -mavx512f -mavx512vl -mbmi -mbmi2 benchmarks/simd/latency.c -o /tmp/latency
 *   taskset -c 0 /tmp/latency
 */
#include <stdio.h>
#include <time.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

#define REP8(x) x x x x x x x x
#define REP64(x) REP8(REP8(x))
#define CLOBBERS "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "xmm0", "xmm1", "xmm2", "memory"
/* Best of 20 runs of 100,000 x 64 copies of `body`, in seconds per copy. */
#define TIME(body, out) do { double best = 1e9; for (int r = 0; r < 20; r++) { double t0 = now(); \
    for (long i = 0; i < 100000; i++) __asm__ volatile(REP64(body) ::: CLOBBERS); \
    double dt = (now() - t0) / (100000.0 * 64); if (dt < best) best = dt; } out = best; } while (0)
#define ROW(name, body) do { double t; TIME(body, t); printf("| %-44s | %5.2f |\n", name, t / add); } while (0)

int main(void) {
    double add;
    TIME("addl %%ebx, %%eax\n\t", add);
    printf("clock from the add chain: %.2f GHz\n\n| chain (latency) or independent group (throughput) | cycles |\n|---|---|\n", 1e-9 / add);
    ROW("add r32 (the unit)", "addl %%ebx, %%eax\n\t");
    ROW("add r32, m32", "addl (%%rsp), %%eax\n\t");
    ROW("rol r32, imm", "roll $7, %%eax\n\t");
    ROW("rorx r32, r32, imm", "rorxl $7, %%eax, %%eax\n\t");
    ROW("andn r32", "andnl %%ebx, %%eax, %%eax\n\t");
    ROW("lea r32, [base + index]", "leal (%%eax,%%ebx), %%eax\n\t");
    ROW("lea r32, [base + disp]", "leal 0x1234(%%eax), %%eax\n\t");
    ROW("lea r32, [base + index + disp]", "leal 0x1234(%%eax,%%ebx), %%eax\n\t");
    ROW("vpaddd xmm", "vpaddd %%xmm1, %%xmm0, %%xmm0\n\t");
    ROW("vpxord xmm", "vpxord %%xmm1, %%xmm0, %%xmm0\n\t");
    ROW("vpternlogd xmm", "vpternlogd $0x96, %%xmm1, %%xmm2, %%xmm0\n\t");
    ROW("vprold xmm", "vprold $7, %%xmm0, %%xmm0\n\t");
    ROW("throughput: 4 independent add, per group", "addl %%ebx, %%eax\n\taddl %%ebx, %%ecx\n\taddl %%ebx, %%edx\n\taddl %%ebx, %%esi\n\t");
    ROW("throughput: 6 independent add, per group", "addl %%ebx, %%eax\n\taddl %%ebx, %%ecx\n\taddl %%ebx, %%edx\n\taddl %%ebx, %%esi\n\taddl %%ebx, %%edi\n\taddl %%ebx, %%r8d\n\t");
    ROW("throughput: 4 independent rorx, per group", "rorxl $7, %%ebx, %%eax\n\trorxl $7, %%ebx, %%ecx\n\trorxl $7, %%ebx, %%edx\n\trorxl $7, %%ebx, %%esi\n\t");
    return 0;
}
