/* SM2 micro-costs of GmSSL's x86-64 sm2_z256 layer, printed in the shape of bidkernel's
 * `timing_min` test (native/src/gm_sm2/point.rs) so the pieces can be compared one by one:
 * minimum over 30 rounds of the per-iteration time of a dependent chain.
 *
 *   gcc -O2 -I$GMSSL/include benchmarks/anchors/gmssl_micro.c -L$GMSSL/build/bin -lgmssl -o /tmp/gmssl_micro
 *   LD_LIBRARY_PATH=$GMSSL/build/bin taskset -c 0 /tmp/gmssl_micro
 *
 * Only GmSSL's public header API is called; GmSSL itself is built outside the repository. */
#include <gmssl/sm2_z256.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

#define MIN_NS(N, BODY)                                                   \
    ({                                                                    \
        double best_ = 1e300;                                             \
        for (int r_ = 0; r_ < 30; r_++) {                                 \
            double t0_ = now_ns();                                        \
            for (int i_ = 0; i_ < (N); i_++) { BODY; }                    \
            double d_ = (now_ns() - t0_) / (N);                           \
            if (d_ < best_) best_ = d_;                                   \
        }                                                                 \
        best_;                                                            \
    })

int main(void) {
    sm2_z256_t a, b, k;
    sm2_z256_from_hex(a, "10a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f");
    sm2_z256_from_hex(k, "3a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f1");
    sm2_z256_modp_mont_sqr(b, a);
    for (int rep = 0; rep < 3; rep++) {
        double m = MIN_NS(20000, sm2_z256_modp_mont_mul(a, a, b));
        double s = MIN_NS(20000, sm2_z256_modp_mont_sqr(a, a));
        double ad = MIN_NS(20000, sm2_z256_modp_add(a, a, b));
        double sb = MIN_NS(20000, sm2_z256_modp_sub(a, a, b));
        printf("gmssl mul %.1f ns  sqr %.1f ns  fe_add %.1f ns  fe_sub %.1f ns\n", m, s, ad, sb);
    }
    SM2_Z256_POINT G, Q, T[16];
    sm2_z256_point_mul_generator(&G, k);
    Q = G;
    SM2_Z256_AFFINE_POINT A;
    sm2_z256_point_get_xy(&G, A.x, A.y);
    /* get_xy returns plain coordinates; the affine adder wants Montgomery form. */
    sm2_z256_modp_to_mont(A.x, A.x);
    sm2_z256_modp_to_mont(A.y, A.y);
    double db = MIN_NS(20000, sm2_z256_point_dbl(&Q, &Q));
    double ma = MIN_NS(20000, sm2_z256_point_add_affine(&Q, &Q, &A));
    double pa = MIN_NS(20000, sm2_z256_point_add(&Q, &Q, &G));
    double bm = MIN_NS(200, sm2_z256_point_mul_generator(&Q, k));
    double pm = MIN_NS(50, sm2_z256_point_mul(&Q, k, &G));
    double pc = MIN_NS(200, sm2_z256_point_mul_pre_compute(&G, T));
    double inv = MIN_NS(200, sm2_z256_modp_mont_inv(a, a));
    printf("gmssl dbl %.1f ns  madd %.1f ns  add %.1f ns  mul_base %.2f us  mul_var %.2f us  "
           "(of which table %.2f us)  invert %.2f us\n",
           db, ma, pa, bm / 1e3, pm / 1e3, pc / 1e3, inv / 1e3);
    return (int)(a[0] & 0) + (int)(Q.X[0] & 0);
}
