/*
 * alianza.matching._dice: the Dice kernel of ``alianza.matching.bloom`` in C.
 *
 * Filters are C-contiguous native uint64 words, ``words`` per filter (any bytes-like object: NumPy arrays,
 * bytes, memoryviews). Three entry points, each the exact counterpart of a NumPy path of bloom.py:
 *
 *   dense_dice(a, b, words, threshold, threads) -> (rows, cols, scores)
 *       every pair of a x b whose whole-filter Dice 2|x&y| / max(|x|+|y|, 1), computed in double, is
 *       >= threshold; score = that double rounded to float32 (bloom.dense_candidates(score="dice")).
 *   dense_segments(a, b, words, groups, weights, threshold, threads) -> (rows, cols, scores)
 *       every pair whose segment score, computed in float32 exactly as bloom._scores does it, is
 *       >= float32(threshold) (bloom.dense_candidates(score="segments")).
 *   pair_segments(a, b, words, rows, cols, groups, weights, out) -> None
 *       the segment score of the listed pairs, written to ``out`` (float32) (bloom.pair_scores).
 *
 * rows/cols come back as bytearrays of int64, scores as a bytearray of float32, ordered by (block of
 * ROW_BLOCK rows, tile of columns, row, column) whatever the number of threads.
 *
 * Speed: per-filter popcounts are computed once; a pair costs ``words`` AND + POPCNT and one table lookup
 * (need[|x|+|y|] = the least intersection that reaches the threshold, found with the very double expression
 * NumPy evaluates, so the decision is identical and needs no division); only pairs above the threshold are
 * written out. Rows are split among POSIX threads (the GIL is released). On x86 the kernel is compiled for the
 * baseline ISA, with target("popcnt") and, for Dice, with AVX2 (PSHUFB nibble-lookup popcounts summed by
 * VPSADBW; any number of words) and AVX-512 VPOPCNTDQ (16 words); both take 8 columns at a time from a
 * word-major copy of b, apply a conservative pre-check (float, double), then the exact table check on the few
 * survivors. The best one the CPU has is chosen at run time (no -march needed, the wheel runs anywhere);
 * set_isa() forces a lower one (tests, benchmarks).
 *
 * Exactness of the float32 segment score needs IEEE single arithmetic without contraction into FMA: the
 * extension is built with -ffp-contract=off (pyproject.toml) and must not be built with -ffast-math.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifndef _WIN32
#include <pthread.h>
#define DICE_THREADS 1
#endif

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define DICE_X86 1
#if defined(__x86_64__) && (defined(__clang__) ? __clang_major__ >= 4 : __GNUC__ >= 5)
#define DICE_AVX2 1
#include <immintrin.h>
#endif
#if defined(__x86_64__) && (defined(__clang__) ? __clang_major__ >= 6 : __GNUC__ >= 8)
#define DICE_AVX512 1
#endif
#endif

#if defined(__GNUC__) || defined(__clang__)
#define ALWAYS_INLINE static inline __attribute__((always_inline))
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#define POPC(x) __builtin_popcountll(x)
#else
#error "the _dice extension needs GCC or Clang"
#endif

#define MAX_GROUPS 7   /* NumPy sums fewer than 8 values left to right; the float32 score relies on it */
#define MAX_THREADS 64
#define ROW_BLOCK 32
#define TILE_BYTES (16 * 1024) /* columns per tile: this many bytes of filters (stays in L1) */

enum { ISA_BASELINE = 0, ISA_POPCNT = 1, ISA_AVX2 = 2, ISA_AVX512 = 3 };
static const char *const isa_names[] = {"baseline", "popcnt", "avx2", "avx512vpopcntdq"};
static int isa = ISA_BASELINE; /* in use; chosen at import, changed by set_isa (tests, benchmarks) */

/* --- output ---------------------------------------------------------------------------------------------- */

typedef struct {
    int64_t *rows;
    int64_t *cols;
    float *scores;
    size_t len, cap;
    int oom;
} outbuf_t;

static int out_grow(outbuf_t *o) {
    size_t cap = o->cap ? o->cap * 2 : 1024;
    int64_t *r = (int64_t *)realloc(o->rows, cap * sizeof(int64_t));
    if (r) o->rows = r;
    int64_t *c = (int64_t *)realloc(o->cols, cap * sizeof(int64_t));
    if (c) o->cols = c;
    float *s = (float *)realloc(o->scores, cap * sizeof(float));
    if (s) o->scores = s;
    if (!r || !c || !s) {
        o->oom = 1;
        return -1;
    }
    o->cap = cap;
    return 0;
}

ALWAYS_INLINE int out_push(outbuf_t *o, Py_ssize_t i, Py_ssize_t j, float s) {
    if (UNLIKELY(o->len == o->cap) && out_grow(o) < 0) return -1;
    o->rows[o->len] = (int64_t)i;
    o->cols[o->len] = (int64_t)j;
    o->scores[o->len] = s;
    o->len++;
    return 0;
}

static void out_free(outbuf_t *o) {
    free(o->rows);
    free(o->cols);
    free(o->scores);
    memset(o, 0, sizeof(*o));
}

/* --- jobs ------------------------------------------------------------------------------------------------ */

typedef struct {
    int kind; /* 0: dice, 1: segments */
    int isa;  /* the instruction set of this job, fixed when it starts */
    const uint64_t *a, *b;
    Py_ssize_t n, m;
    int words;
    Py_ssize_t tile; /* columns per tile */
    /* dice */
    const int32_t *pa, *pb; /* popcount of each filter */
    const int32_t *need;    /* need[|x| + |y|]: least intersection reaching the threshold (INT32_MAX: none) */
    const uint64_t *bt;     /* AVX2/AVX-512 paths: b word-major by groups of 8 columns, bt[(j/8)*8*words + w*8 + j%8] */
    const double *pbd;      /* AVX-512 path: pb as doubles, padded to groups of 8 */
    double half_low;        /* AVX-512 path: a hair under threshold/2, for the pre-check */
    const float *pbf;       /* AVX2 path: pb as floats, padded to groups of 8 */
    float half_low_f;       /* AVX2 path: a little under threshold/2 (relative 1e-6), for its float pre-check */
    /* segments */
    int groups;
    int lo[MAX_GROUPS], hi[MAX_GROUPS];
    float weight[MAX_GROUPS];
    const int32_t *pag, *pbg; /* per-group popcounts, n x groups and m x groups */
    float limit;
} job_t;

typedef struct {
    const job_t *job;
    Py_ssize_t block0, block1; /* row blocks [block0, block1) */
    outbuf_t out;
} task_t;

/* The float32 segment score of bloom._scores for one pair: Dice of each group present on both sides, weighted
 * mean over those groups; sums left to right as NumPy does for fewer than 8 terms (absent groups add 0). */
ALWAYS_INLINE float segment_score(const int *inter, const int32_t *pa, const int32_t *pb, const float *weight,
                                  int groups) {
    float wsum = 0.0f, num = 0.0f;
    for (int g = 0; g < groups; g++) {
        if (pa[g] > 0 && pb[g] > 0) {
            float dice = (float)(2 * inter[g]) / (float)(pa[g] + pb[g]);
            float prod = dice * weight[g];
            wsum = wsum + weight[g];
            num = num + prod;
        }
    }
    return wsum > 0.0f ? num / wsum : 0.0f;
}

/* |x & y| over 16 words: four independent 64-bit accumulators (measured 5-15 % faster on the FEBRL4 kernel
 * benchmark than a tree of int sums, the compiler keeping every word's AND folded into its load). */
ALWAYS_INLINE int and_popcount16(const uint64_t *x, const uint64_t *y) {
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (int w = 0; w < 16; w += 4) {
        s0 += (uint64_t)POPC(x[w] & y[w]);
        s1 += (uint64_t)POPC(x[w + 1] & y[w + 1]);
        s2 += (uint64_t)POPC(x[w + 2] & y[w + 2]);
        s3 += (uint64_t)POPC(x[w + 3] & y[w + 3]);
    }
    return (int)((s0 + s1) + (s2 + s3));
}

ALWAYS_INLINE int and_popcount(const uint64_t *x, const uint64_t *y, int lo, int hi) {
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int w = lo;
    for (; w + 4 <= hi; w += 4) {
        s0 += (uint64_t)POPC(x[w] & y[w]);
        s1 += (uint64_t)POPC(x[w + 1] & y[w + 1]);
        s2 += (uint64_t)POPC(x[w + 2] & y[w + 2]);
        s3 += (uint64_t)POPC(x[w + 3] & y[w + 3]);
    }
    for (; w < hi; w++) s0 += (uint64_t)POPC(x[w] & y[w]);
    return (int)((s0 + s1) + (s2 + s3));
}

ALWAYS_INLINE double dice_of(int inter, int total) {
    return 2.0 * (double)inter / (double)(total > 0 ? total : 1);
}

ALWAYS_INLINE void run_task_body(task_t *t) {
    const job_t *J = t->job;
    const Py_ssize_t n = J->n, m = J->m, tile = J->tile;
    const int words = J->words;
    outbuf_t *o = &t->out;
    for (Py_ssize_t blk = t->block0; blk < t->block1; blk++) {
        const Py_ssize_t r0 = blk * ROW_BLOCK, r1 = r0 + ROW_BLOCK < n ? r0 + ROW_BLOCK : n;
        for (Py_ssize_t c0 = 0; c0 < m; c0 += tile) {
            const Py_ssize_t c1 = c0 + tile < m ? c0 + tile : m;
            for (Py_ssize_t i = r0; i < r1; i++) {
                const uint64_t *x = J->a + (size_t)i * (size_t)words;
                if (J->kind == 0) {
                    const int32_t *need = J->need + J->pa[i];
                    const int32_t *pb = J->pb;
                    const uint64_t *y = J->b + (size_t)c0 * (size_t)words;
                    if (words == 16) {
                        for (Py_ssize_t j = c0; j < c1; j++, y += 16) {
                            int inter = and_popcount16(x, y);
                            if (UNLIKELY(inter >= need[pb[j]])) {
                                float s = (float)dice_of(inter, J->pa[i] + pb[j]);
                                if (out_push(o, i, j, s) < 0) return;
                            }
                        }
                    } else {
                        for (Py_ssize_t j = c0; j < c1; j++, y += words) {
                            int inter = and_popcount(x, y, 0, words);
                            if (UNLIKELY(inter >= need[pb[j]])) {
                                float s = (float)dice_of(inter, J->pa[i] + pb[j]);
                                if (out_push(o, i, j, s) < 0) return;
                            }
                        }
                    }
                } else {
                    const int G = J->groups;
                    const int32_t *pa = J->pag + (size_t)i * (size_t)G;
                    for (Py_ssize_t j = c0; j < c1; j++) {
                        const uint64_t *y = J->b + (size_t)j * (size_t)words;
                        int inter[MAX_GROUPS];
                        for (int g = 0; g < G; g++) inter[g] = and_popcount(x, y, J->lo[g], J->hi[g]);
                        float s = segment_score(inter, pa, J->pbg + (size_t)j * (size_t)G, J->weight, G);
                        if (s >= J->limit && out_push(o, i, j, s) < 0) return;
                    }
                }
            }
        }
    }
}

static void run_task_generic(task_t *t) { run_task_body(t); }

#ifdef DICE_X86
__attribute__((target("popcnt"))) static void run_task_popcnt(task_t *t) { run_task_body(t); }
#endif

#ifdef DICE_AVX512
/* 16-word Dice, 8 columns per step: the row's words broadcast once, AND + VPOPCNTQ + add per word against the
 * word-major copy of b. A pair survives the pre-check when inter >= (|x| + |y|) * half_low in double: any pair
 * the exact test keeps (2 inter / total >= threshold after rounding) passes it, as half_low is a relative 1e-9
 * under threshold / 2, far more than the rounding; survivors then take the exact table test of the scalar path. */
__attribute__((target("avx512f,avx512dq,avx512vpopcntdq,popcnt"))) static void run_task_avx512(task_t *t) {
    const job_t *J = t->job;
    const Py_ssize_t n = J->n, m = J->m, tile = J->tile;
    outbuf_t *o = &t->out;
    const __m512d half = _mm512_set1_pd(J->half_low);
    for (Py_ssize_t blk = t->block0; blk < t->block1; blk++) {
        const Py_ssize_t r0 = blk * ROW_BLOCK, r1 = r0 + ROW_BLOCK < n ? r0 + ROW_BLOCK : n;
        for (Py_ssize_t c0 = 0; c0 < m; c0 += tile) { /* tile is a multiple of 8 */
            const Py_ssize_t c1 = c0 + tile < m ? c0 + tile : m;
            for (Py_ssize_t i = r0; i < r1; i++) {
                const uint64_t *x = J->a + (size_t)i * 16;
                __m512i xa[16];
                for (int w = 0; w < 16; w++) xa[w] = _mm512_set1_epi64((long long)x[w]);
                const int32_t pai = J->pa[i];
                const int32_t *need = J->need + pai;
                const __m512d pa = _mm512_set1_pd((double)pai);
                for (Py_ssize_t j = c0; j < c1; j += 8) {
                    const uint64_t *y = J->bt + (size_t)j * 16;
                    __m512i s0 = _mm512_popcnt_epi64(_mm512_and_si512(xa[0], _mm512_loadu_si512(y + 0)));
                    __m512i s1 = _mm512_popcnt_epi64(_mm512_and_si512(xa[1], _mm512_loadu_si512(y + 8)));
                    for (int w = 2; w < 16; w += 2) {
                        s0 = _mm512_add_epi64(
                            s0, _mm512_popcnt_epi64(_mm512_and_si512(xa[w], _mm512_loadu_si512(y + w * 8))));
                        s1 = _mm512_add_epi64(
                            s1, _mm512_popcnt_epi64(_mm512_and_si512(xa[w + 1], _mm512_loadu_si512(y + w * 8 + 8))));
                    }
                    const __m512i inter = _mm512_add_epi64(s0, s1);
                    const __m512d total = _mm512_add_pd(pa, _mm512_loadu_pd(J->pbd + j));
                    __mmask8 hit =
                        _mm512_cmp_pd_mask(_mm512_cvtepi64_pd(inter), _mm512_mul_pd(total, half), _CMP_GE_OQ);
                    if (UNLIKELY(hit)) {
                        if (c1 - j < 8) hit &= (__mmask8)((1u << (c1 - j)) - 1u);
                        int64_t lanes[8];
                        _mm512_storeu_si512(lanes, inter);
                        for (int l = 0; l < 8; l++) {
                            if (!(hit >> l & 1)) continue;
                            const Py_ssize_t jj = j + l;
                            const int in = (int)lanes[l];
                            if (in >= need[J->pb[jj]] &&
                                out_push(o, i, jj, (float)dice_of(in, pai + J->pb[jj])) < 0)
                                return;
                        }
                    }
                }
            }
        }
    }
}
#endif

#ifdef DICE_AVX2
/* Popcount of each byte of v (Muła's nibble lookup: two PSHUFB on a 16-entry table). */
__attribute__((target("avx2"))) ALWAYS_INLINE __m256i byte_popcounts(__m256i v, __m256i lut, __m256i low) {
    const __m256i lo = _mm256_shuffle_epi8(lut, _mm256_and_si256(v, low));
    const __m256i hi = _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(v, 4), low));
    return _mm256_add_epi8(lo, hi);
}

/* Dice (any number of words), 8 columns per step from the same word-major copy of b as the AVX-512 path: per
 * word, the row's word broadcast, AND with 4 columns per register, byte popcounts by nibble lookup added up per
 * byte (at most 8 per word: 31 words stay <= 248, so longer filters are summed in runs of 31), then VPSADBW sums
 * the 8 bytes of each column into its 64-bit lane. The pre-check inter >= (|x| + |y|) * half_low_f in float
 * keeps every pair the exact test keeps: half_low_f is a relative 1e-6 under threshold / 2, and the float
 * roundings (of half_low_f and of the product; the integers are exact) are under 1.2e-7 together. Survivors
 * take the exact table test of the scalar path. */
__attribute__((target("avx2,popcnt"))) ALWAYS_INLINE void run_task_avx2_body(task_t *t, const int words) {
    const job_t *J = t->job;
    const Py_ssize_t n = J->n, m = J->m, tile = J->tile;
    outbuf_t *o = &t->out;
    const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, /* per 128-bit lane */
                                         0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i low = _mm256_set1_epi8(0x0f);
    const __m256i zero = _mm256_setzero_si256();
    const __m256i order = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7); /* (c0, c4, c1, c5, ...) -> c0 .. c7 */
    const __m256 half = _mm256_set1_ps(J->half_low_f);
    for (Py_ssize_t blk = t->block0; blk < t->block1; blk++) {
        const Py_ssize_t r0 = blk * ROW_BLOCK, r1 = r0 + ROW_BLOCK < n ? r0 + ROW_BLOCK : n;
        for (Py_ssize_t c0 = 0; c0 < m; c0 += tile) { /* tile is a multiple of 8 */
            const Py_ssize_t c1 = c0 + tile < m ? c0 + tile : m;
            for (Py_ssize_t i = r0; i < r1; i++) {
                const uint64_t *x = J->a + (size_t)i * (size_t)words;
                const int32_t pai = J->pa[i];
                const int32_t *need = J->need + pai;
                const __m256 pa = _mm256_set1_ps((float)pai);
                for (Py_ssize_t j = c0; j < c1; j += 8) {
                    const uint64_t *y = J->bt + (size_t)j * (size_t)words;
                    __m256i s0 = zero, s1 = zero;
                    for (int w0 = 0; w0 < words; w0 += 31) {
                        const int w1 = w0 + 31 < words ? w0 + 31 : words;
                        __m256i acc0 = zero, acc1 = zero;
                        for (int w = w0; w < w1; w++) {
                            const __m256i xw = _mm256_set1_epi64x((long long)x[w]);
                            const __m256i v0 = _mm256_and_si256(xw, _mm256_loadu_si256((const __m256i *)(y + w * 8)));
                            const __m256i v1 =
                                _mm256_and_si256(xw, _mm256_loadu_si256((const __m256i *)(y + w * 8 + 4)));
                            acc0 = _mm256_add_epi8(acc0, byte_popcounts(v0, lut, low));
                            acc1 = _mm256_add_epi8(acc1, byte_popcounts(v1, lut, low));
                        }
                        s0 = _mm256_add_epi64(s0, _mm256_sad_epu8(acc0, zero));
                        s1 = _mm256_add_epi64(s1, _mm256_sad_epu8(acc1, zero));
                    }
                    /* 64-bit sums (<= 65536) of columns 0-3 and 4-7 -> 32-bit lanes c0 .. c7 */
                    const __m256i inter =
                        _mm256_permutevar8x32_epi32(_mm256_or_si256(s0, _mm256_slli_epi64(s1, 32)), order);
                    const __m256 total = _mm256_add_ps(pa, _mm256_loadu_ps(J->pbf + j));
                    unsigned hit = (unsigned)_mm256_movemask_ps(
                        _mm256_cmp_ps(_mm256_cvtepi32_ps(inter), _mm256_mul_ps(total, half), _CMP_GE_OQ));
                    if (UNLIKELY(hit)) {
                        if (c1 - j < 8) hit &= (1u << (c1 - j)) - 1u;
                        int32_t lanes[8];
                        _mm256_storeu_si256((__m256i *)lanes, inter);
                        for (int l = 0; l < 8; l++) {
                            if (!(hit >> l & 1)) continue;
                            const Py_ssize_t jj = j + l;
                            const int in = lanes[l];
                            if (in >= need[J->pb[jj]] &&
                                out_push(o, i, jj, (float)dice_of(in, pai + J->pb[jj])) < 0)
                                return;
                        }
                    }
                }
            }
        }
    }
}

__attribute__((target("avx2,popcnt"))) static void run_task_avx2(task_t *t) {
    if (t->job->words == 16)
        run_task_avx2_body(t, 16); /* the schema's filters: the word loop fully unrolled */
    else
        run_task_avx2_body(t, t->job->words);
}
#endif

static void run_task(task_t *t) {
#ifdef DICE_AVX512
    if (t->job->isa >= ISA_AVX512 && t->job->bt && t->job->pbd) {
        run_task_avx512(t);
        return;
    }
#endif
#ifdef DICE_AVX2
    if (t->job->isa >= ISA_AVX2 && t->job->bt && t->job->pbf) {
        run_task_avx2(t);
        return;
    }
#endif
#ifdef DICE_X86
    if (t->job->isa >= ISA_POPCNT) {
        run_task_popcnt(t);
        return;
    }
#endif
    run_task_generic(t);
}

#ifdef DICE_THREADS
static void *thread_main(void *arg) {
    run_task((task_t *)arg);
    return NULL;
}
#endif

/* Popcounts of filters, per group: out[i * groups + g]. */
ALWAYS_INLINE void popcounts_body(const uint64_t *f, Py_ssize_t n, int words, const int *lo, const int *hi,
                                  int groups, int32_t *out) {
    for (Py_ssize_t i = 0; i < n; i++) {
        const uint64_t *x = f + (size_t)i * (size_t)words;
        for (int g = 0; g < groups; g++) {
            int s = 0;
            for (int w = lo[g]; w < hi[g]; w++) s += POPC(x[w]);
            out[(size_t)i * (size_t)groups + (size_t)g] = s;
        }
    }
}

static void popcounts_generic(const uint64_t *f, Py_ssize_t n, int words, const int *lo, const int *hi,
                              int groups, int32_t *out) {
    popcounts_body(f, n, words, lo, hi, groups, out);
}

#ifdef DICE_X86
__attribute__((target("popcnt"))) static void popcounts_popcnt(const uint64_t *f, Py_ssize_t n, int words,
                                                               const int *lo, const int *hi, int groups,
                                                               int32_t *out) {
    popcounts_body(f, n, words, lo, hi, groups, out);
}
#endif

static void popcounts(const uint64_t *f, Py_ssize_t n, int words, const int *lo, const int *hi, int groups,
                      int32_t *out) {
#ifdef DICE_X86
    if (isa >= ISA_POPCNT) {
        popcounts_popcnt(f, n, words, lo, hi, groups, out);
        return;
    }
#endif
    popcounts_generic(f, n, words, lo, hi, groups, out);
}

/* --- argument helpers ------------------------------------------------------------------------------------ */

/* A filter matrix from a buffer: its words, an aligned copy when the buffer is not 8-byte aligned. */
typedef struct {
    Py_buffer view;
    int has_view;
    const uint64_t *data;
    uint64_t *owned;
    Py_ssize_t rows;
} filters_t;

static void filters_release(filters_t *f) {
    if (f->has_view) PyBuffer_Release(&f->view);
    free(f->owned);
    memset(f, 0, sizeof(*f));
}

static int filters_get(PyObject *obj, int words, const char *name, filters_t *f) {
    memset(f, 0, sizeof(*f));
    if (PyObject_GetBuffer(obj, &f->view, PyBUF_C_CONTIGUOUS) < 0) return -1;
    f->has_view = 1;
    Py_ssize_t stride = (Py_ssize_t)words * 8;
    if (f->view.len % stride != 0) {
        PyErr_Format(PyExc_ValueError, "%s: %zd bytes is not a whole number of %d-word filters", name, f->view.len,
                     words);
        filters_release(f);
        return -1;
    }
    f->rows = f->view.len / stride;
    if (((uintptr_t)f->view.buf & 7u) != 0) {
        f->owned = (uint64_t *)malloc(f->view.len ? (size_t)f->view.len : 1);
        if (!f->owned) {
            PyErr_NoMemory();
            filters_release(f);
            return -1;
        }
        memcpy(f->owned, f->view.buf, (size_t)f->view.len);
        f->data = f->owned;
    } else {
        f->data = (const uint64_t *)f->view.buf;
    }
    return 0;
}

static int check_words(int words) {
    if (words < 1 || words > 1024) {
        PyErr_Format(PyExc_ValueError, "words must be between 1 and 1024, not %d", words);
        return -1;
    }
    return 0;
}

/* groups: bytes-like of int32 (lo, hi) pairs; weights: bytes-like of float32, one per group. */
static int groups_get(PyObject *groups_obj, PyObject *weights_obj, int words, job_t *J) {
    Py_buffer g, w;
    if (PyObject_GetBuffer(groups_obj, &g, PyBUF_C_CONTIGUOUS) < 0) return -1;
    if (PyObject_GetBuffer(weights_obj, &w, PyBUF_C_CONTIGUOUS) < 0) {
        PyBuffer_Release(&g);
        return -1;
    }
    int rc = -1;
    Py_ssize_t count = w.len / (Py_ssize_t)sizeof(float);
    if (w.len % (Py_ssize_t)sizeof(float) != 0 || g.len != count * 2 * (Py_ssize_t)sizeof(int32_t) || count < 1 ||
        count > MAX_GROUPS) {
        PyErr_Format(PyExc_ValueError, "groups/weights: between 1 and %d groups of int32 (lo, hi) and float32 weights",
                     MAX_GROUPS);
        goto done;
    }
    J->groups = (int)count;
    for (int k = 0; k < J->groups; k++) {
        int32_t lo, hi;
        float weight;
        memcpy(&lo, (const char *)g.buf + (size_t)k * 8, 4);
        memcpy(&hi, (const char *)g.buf + (size_t)k * 8 + 4, 4);
        memcpy(&weight, (const char *)w.buf + (size_t)k * 4, 4);
        if (lo < 0 || hi < lo || hi > words) {
            PyErr_Format(PyExc_ValueError, "group %d: [%d, %d) is not within %d words", k, (int)lo, (int)hi, words);
            goto done;
        }
        J->lo[k] = lo;
        J->hi[k] = hi;
        J->weight[k] = weight;
    }
    rc = 0;
done:
    PyBuffer_Release(&g);
    PyBuffer_Release(&w);
    return rc;
}

/* Run the row blocks of J on up to `threads` threads and return (rows, cols, scores). */
static PyObject *run_dense(job_t *J, int threads) {
    Py_ssize_t blocks = (J->n + ROW_BLOCK - 1) / ROW_BLOCK;
    if (threads < 1) threads = 1;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    if ((Py_ssize_t)threads > blocks) threads = blocks > 0 ? (int)blocks : 1;
#ifndef DICE_THREADS
    threads = 1;
#endif
    Py_ssize_t tile = TILE_BYTES / ((Py_ssize_t)J->words * 8);
    J->tile = tile < 64 ? 64 : tile & ~(Py_ssize_t)7;

    task_t tasks[MAX_THREADS];
    memset(tasks, 0, sizeof(tasks));
    for (int k = 0; k < threads; k++) {
        tasks[k].job = J;
        tasks[k].block0 = blocks * k / threads;
        tasks[k].block1 = blocks * (k + 1) / threads;
    }

    Py_BEGIN_ALLOW_THREADS
#ifdef DICE_THREADS
    pthread_t tid[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    for (int k = 1; k < threads; k++) started[k] = pthread_create(&tid[k], NULL, thread_main, &tasks[k]) == 0;
    run_task(&tasks[0]);
    for (int k = 1; k < threads; k++) {
        if (started[k])
            pthread_join(tid[k], NULL);
        else
            run_task(&tasks[k]); /* could not start a thread: do its share here */
    }
#else
    run_task(&tasks[0]);
#endif
    Py_END_ALLOW_THREADS

    PyObject *result = NULL;
    size_t total = 0;
    int oom = 0;
    for (int k = 0; k < threads; k++) {
        total += tasks[k].out.len;
        oom |= tasks[k].out.oom;
    }
    if (oom) {
        PyErr_NoMemory();
        goto done;
    }
    PyObject *rows = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)(total * sizeof(int64_t)));
    PyObject *cols = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)(total * sizeof(int64_t)));
    PyObject *scores = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)(total * sizeof(float)));
    if (rows && cols && scores) {
        char *pr = PyByteArray_AS_STRING(rows), *pc = PyByteArray_AS_STRING(cols), *ps = PyByteArray_AS_STRING(scores);
        for (int k = 0; k < threads; k++) {
            size_t len = tasks[k].out.len;
            if (!len) continue;
            memcpy(pr, tasks[k].out.rows, len * sizeof(int64_t));
            memcpy(pc, tasks[k].out.cols, len * sizeof(int64_t));
            memcpy(ps, tasks[k].out.scores, len * sizeof(float));
            pr += len * sizeof(int64_t);
            pc += len * sizeof(int64_t);
            ps += len * sizeof(float);
        }
        result = PyTuple_Pack(3, rows, cols, scores);
    }
    Py_XDECREF(rows);
    Py_XDECREF(cols);
    Py_XDECREF(scores);
done:
    for (int k = 0; k < threads; k++) out_free(&tasks[k].out);
    return result;
}

/* --- entry points ---------------------------------------------------------------------------------------- */

PyDoc_STRVAR(dense_dice_doc,
             "dense_dice(a, b, words, threshold, threads) -> (rows, cols, scores)\n\n"
             "Pairs of a x b (uint64 filters of `words` words) whose Dice 2|x&y| / max(|x|+|y|, 1), in double,\n"
             "is >= threshold: int64 rows, int64 cols and float32 scores as bytearrays.");

static PyObject *dense_dice(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *ao, *bo;
    int words, threads;
    double threshold;
    if (!PyArg_ParseTuple(args, "OOidi:dense_dice", &ao, &bo, &words, &threshold, &threads)) return NULL;
    if (check_words(words) < 0) return NULL;
    filters_t fa, fb;
    if (filters_get(ao, words, "a", &fa) < 0) return NULL;
    if (filters_get(bo, words, "b", &fb) < 0) {
        filters_release(&fa);
        return NULL;
    }
    PyObject *result = NULL;
    const int maxtotal = 2 * words * 64;
    int32_t *pa = (int32_t *)malloc(sizeof(int32_t) * (size_t)(fa.rows + 1));
    int32_t *pb = (int32_t *)malloc(sizeof(int32_t) * (size_t)(fb.rows + 1));
    int32_t *need = (int32_t *)malloc(sizeof(int32_t) * (size_t)(maxtotal + 1));
    uint64_t *bt = NULL;
    double *pbd = NULL;
    float *pbf = NULL;
    if (!pa || !pb || !need) {
        PyErr_NoMemory();
        goto done;
    }
    int all[1] = {0}, upto[1] = {words};
    popcounts(fa.data, fa.rows, words, all, upto, 1, pa);
    popcounts(fb.data, fb.rows, words, all, upto, 1, pb);
    /* need[total]: the least k in [0, total/2] (an intersection never exceeds half the total) with
     * dice_of(k, total) >= threshold, INT32_MAX if none. dice_of is non-decreasing in k, so start from an
     * estimate and step: the decision is exactly that of the double expression. */
    for (int total = 0; total <= maxtotal; total++) {
        const int kmax = total / 2;
        if (!(dice_of(kmax, total) >= threshold)) { /* also when threshold is NaN */
            need[total] = INT32_MAX;
            continue;
        }
        int k;
        if (threshold <= 0.0) {
            k = 0;
        } else {
            double est = threshold * (double)total / 2.0 - 1.0;
            k = est <= 0.0 ? 0 : (est >= (double)kmax ? kmax : (int)est);
        }
        while (k < kmax && !(dice_of(k, total) >= threshold)) k++;
        while (k > 0 && dice_of(k - 1, total) >= threshold) k--;
        need[total] = k;
    }
    job_t J;
    memset(&J, 0, sizeof(J));
    J.kind = 0;
    J.isa = isa;
    J.a = fa.data;
    J.b = fb.data;
    J.n = fa.rows;
    J.m = fb.rows;
    J.words = words;
    J.pa = pa;
    J.pb = pb;
    J.need = need;
    if (J.isa >= ISA_AVX2 && fb.rows > 0) {
        /* word-major copy of b by groups of 8 columns (zero padding: never reported, see the lane mask); the
         * AVX-512 path takes 16-word filters, the AVX2 path any */
        const int wide = J.isa >= ISA_AVX512 && words == 16;
        const Py_ssize_t groups8 = (fb.rows + 7) / 8;
        bt = (uint64_t *)calloc((size_t)groups8 * 8 * (size_t)words, sizeof(uint64_t));
        if (wide)
            pbd = (double *)calloc((size_t)groups8 * 8, sizeof(double));
        else
            pbf = (float *)calloc((size_t)groups8 * 8, sizeof(float));
        if (!bt || (wide ? !pbd : !pbf)) {
            PyErr_NoMemory();
            goto done;
        }
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t j = 0; j < fb.rows; j++) {
            const uint64_t *y = fb.data + (size_t)j * (size_t)words;
            uint64_t *dst = bt + (size_t)(j / 8) * 8 * (size_t)words + (size_t)(j % 8);
            for (int w = 0; w < words; w++) dst[w * 8] = y[w];
            if (wide)
                pbd[j] = (double)pb[j];
            else
                pbf[j] = (float)pb[j];
        }
        Py_END_ALLOW_THREADS
        J.bt = bt;
        J.pbd = pbd;
        J.pbf = pbf;
        /* threshold <= 0 keeps every pair (inter >= 0); NaN none, as the table */
        J.half_low = threshold > 0.0 ? threshold * 0.5 * (1.0 - 1e-9) : threshold <= 0.0 ? 0.0 : threshold;
        J.half_low_f = (float)(threshold > 0.0 ? threshold * 0.5 * (1.0 - 1e-6) : J.half_low);
    }
    result = run_dense(&J, threads);
done:
    free(pa);
    free(pb);
    free(need);
    free(bt);
    free(pbd);
    free(pbf);
    filters_release(&fa);
    filters_release(&fb);
    return result;
}

PyDoc_STRVAR(dense_segments_doc,
             "dense_segments(a, b, words, groups, weights, threshold, threads) -> (rows, cols, scores)\n\n"
             "Pairs of a x b whose segment score (float32 weighted mean of the Dice of the groups present on\n"
             "both sides; groups: int32 (lo, hi) word ranges, weights: float32) is >= float32(threshold).");

static PyObject *dense_segments(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *ao, *bo, *go, *wo;
    int words, threads;
    double threshold;
    if (!PyArg_ParseTuple(args, "OOiOOdi:dense_segments", &ao, &bo, &words, &go, &wo, &threshold, &threads))
        return NULL;
    if (check_words(words) < 0) return NULL;
    job_t J;
    memset(&J, 0, sizeof(J));
    if (groups_get(go, wo, words, &J) < 0) return NULL;
    filters_t fa, fb;
    if (filters_get(ao, words, "a", &fa) < 0) return NULL;
    if (filters_get(bo, words, "b", &fb) < 0) {
        filters_release(&fa);
        return NULL;
    }
    PyObject *result = NULL;
    int32_t *pag = (int32_t *)malloc(sizeof(int32_t) * (size_t)(fa.rows * J.groups + 1));
    int32_t *pbg = (int32_t *)malloc(sizeof(int32_t) * (size_t)(fb.rows * J.groups + 1));
    if (!pag || !pbg) {
        PyErr_NoMemory();
        goto done;
    }
    popcounts(fa.data, fa.rows, words, J.lo, J.hi, J.groups, pag);
    popcounts(fb.data, fb.rows, words, J.lo, J.hi, J.groups, pbg);
    J.kind = 1;
    J.isa = isa;
    J.a = fa.data;
    J.b = fb.data;
    J.n = fa.rows;
    J.m = fb.rows;
    J.words = words;
    J.pag = pag;
    J.pbg = pbg;
    J.limit = (float)threshold;
    result = run_dense(&J, threads);
done:
    free(pag);
    free(pbg);
    filters_release(&fa);
    filters_release(&fb);
    return result;
}

ALWAYS_INLINE void pairs_body(const job_t *J, const int64_t *rows, const int64_t *cols, Py_ssize_t count,
                              float *out) {
    const int G = J->groups, words = J->words;
    for (Py_ssize_t k = 0; k < count; k++) {
        const uint64_t *x = J->a + (size_t)rows[k] * (size_t)words;
        const uint64_t *y = J->b + (size_t)cols[k] * (size_t)words;
        int inter[MAX_GROUPS];
        int32_t pa[MAX_GROUPS], pb[MAX_GROUPS];
        for (int g = 0; g < G; g++) {
            int si = 0, sa = 0, sb = 0;
            for (int w = J->lo[g]; w < J->hi[g]; w++) {
                si += POPC(x[w] & y[w]);
                sa += POPC(x[w]);
                sb += POPC(y[w]);
            }
            inter[g] = si;
            pa[g] = sa;
            pb[g] = sb;
        }
        out[k] = segment_score(inter, pa, pb, J->weight, G);
    }
}

static void pairs_generic(const job_t *J, const int64_t *rows, const int64_t *cols, Py_ssize_t count, float *out) {
    pairs_body(J, rows, cols, count, out);
}

#ifdef DICE_X86
__attribute__((target("popcnt"))) static void pairs_popcnt(const job_t *J, const int64_t *rows, const int64_t *cols,
                                                           Py_ssize_t count, float *out) {
    pairs_body(J, rows, cols, count, out);
}
#endif

/* Row indices as NumPy takes them: negative ones count from the end; out of range is an IndexError. */
static int64_t *indices_get(Py_buffer *v, Py_ssize_t count, Py_ssize_t limit, const char *name) {
    int64_t *idx = (int64_t *)malloc(sizeof(int64_t) * (size_t)(count + 1));
    if (!idx) {
        PyErr_NoMemory();
        return NULL;
    }
    memcpy(idx, v->buf, sizeof(int64_t) * (size_t)count);
    for (Py_ssize_t k = 0; k < count; k++) {
        int64_t i = idx[k];
        if (i < 0) i += limit;
        if (i < 0 || i >= limit) {
            PyErr_Format(PyExc_IndexError, "%s: index %lld is out of bounds for %zd filters", name,
                         (long long)idx[k], limit);
            free(idx);
            return NULL;
        }
        idx[k] = i;
    }
    return idx;
}

PyDoc_STRVAR(pair_segments_doc,
             "pair_segments(a, b, words, rows, cols, groups, weights, out) -> None\n\n"
             "Segment scores (as dense_segments computes them) of the pairs (a[rows[k]], b[cols[k]]), written\n"
             "to out (a writable float32 buffer); rows and cols are int64.");

static PyObject *pair_segments(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *ao, *bo, *go, *wo;
    Py_buffer rv, cv, ov;
    int words;
    if (!PyArg_ParseTuple(args, "OOiy*y*OOw*:pair_segments", &ao, &bo, &words, &rv, &cv, &go, &wo, &ov)) return NULL;
    PyObject *result = NULL;
    filters_t fa, fb;
    int have_a = 0, have_b = 0;
    int64_t *rows = NULL, *cols = NULL;
    job_t J;
    memset(&J, 0, sizeof(J));
    if (check_words(words) < 0 || groups_get(go, wo, words, &J) < 0) goto done;
    Py_ssize_t count = rv.len / 8;
    if (rv.len % 8 != 0 || cv.len != rv.len || ov.len != count * (Py_ssize_t)sizeof(float)) {
        PyErr_SetString(PyExc_ValueError, "rows and cols must be int64 of one length, out float32 of that length");
        goto done;
    }
    if (filters_get(ao, words, "a", &fa) < 0) goto done;
    have_a = 1;
    if (filters_get(bo, words, "b", &fb) < 0) goto done;
    have_b = 1;
    if (!(rows = indices_get(&rv, count, fa.rows, "rows")) || !(cols = indices_get(&cv, count, fb.rows, "cols")))
        goto done;
    J.a = fa.data;
    J.b = fb.data;
    J.words = words;
    float *out = (float *)ov.buf;
    float *tmp = NULL;
    if (((uintptr_t)out & 3u) != 0) {
        tmp = (float *)malloc(sizeof(float) * (size_t)(count + 1));
        if (!tmp) {
            PyErr_NoMemory();
            goto done;
        }
    }
    Py_BEGIN_ALLOW_THREADS
#ifdef DICE_X86
    if (isa >= ISA_POPCNT)
        pairs_popcnt(&J, rows, cols, count, tmp ? tmp : out);
    else
#endif
        pairs_generic(&J, rows, cols, count, tmp ? tmp : out);
    Py_END_ALLOW_THREADS
    if (tmp) {
        memcpy(ov.buf, tmp, sizeof(float) * (size_t)count);
        free(tmp);
    }
    Py_INCREF(Py_None);
    result = Py_None;
done:
    free(rows);
    free(cols);
    if (have_a) filters_release(&fa);
    if (have_b) filters_release(&fb);
    PyBuffer_Release(&rv);
    PyBuffer_Release(&cv);
    PyBuffer_Release(&ov);
    return result;
}

static int cpu_isa(void) {
#ifdef DICE_X86
    __builtin_cpu_init();
#ifdef DICE_AVX512
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vpopcntdq") && __builtin_cpu_supports("popcnt"))
        return ISA_AVX512;
#endif
#ifdef DICE_AVX2
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt")) return ISA_AVX2;
#endif
    if (__builtin_cpu_supports("popcnt")) return ISA_POPCNT;
#endif
    return ISA_BASELINE;
}

PyDoc_STRVAR(set_isa_doc,
             "set_isa(name) -> str\n\n"
             "Use the kernel built for `name` ('avx512vpopcntdq', 'avx2', 'popcnt', 'baseline' or 'best'), or the\n"
             "best below it that the CPU has; returns the one now in use. For tests and benchmarks: the best is\n"
             "chosen at import.");

static PyObject *set_isa(PyObject *self, PyObject *arg) {
    (void)self;
    const char *name = PyUnicode_Check(arg) ? PyUnicode_AsUTF8(arg) : NULL;
    if (!name) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "set_isa() takes a str");
        return NULL;
    }
    int want = -1;
    if (strcmp(name, "best") == 0) want = ISA_AVX512;
    for (int k = 0; k <= ISA_AVX512; k++)
        if (strcmp(name, isa_names[k]) == 0) want = k;
    if (want < 0) {
        PyErr_Format(PyExc_ValueError, "unknown instruction set %R", arg);
        return NULL;
    }
    int best = cpu_isa();
    isa = want < best ? want : best;
    return PyUnicode_FromString(isa_names[isa]);
}

static PyMethodDef methods[] = {
    {"dense_dice", dense_dice, METH_VARARGS, dense_dice_doc},
    {"dense_segments", dense_segments, METH_VARARGS, dense_segments_doc},
    {"pair_segments", pair_segments, METH_VARARGS, pair_segments_doc},
    {"set_isa", set_isa, METH_O, set_isa_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_dice", "Dice kernel of alianza.matching.bloom (see _dice.c).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__dice(void) {
    PyObject *mod = PyModule_Create(&module);
    if (!mod) return NULL;
    isa = cpu_isa();
    if (PyModule_AddIntConstant(mod, "MAX_GROUPS", MAX_GROUPS) < 0 ||
        PyModule_AddStringConstant(mod, "ISA", isa_names[isa]) < 0 ||
        PyModule_AddIntConstant(mod, "THREADS",
#ifdef DICE_THREADS
                                1
#else
                                0
#endif
                                ) < 0) {
        Py_DECREF(mod);
        return NULL;
    }
    return mod;
}
