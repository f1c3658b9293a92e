/*
** gmm_stats_blob.c -- the statistics BLOB: the E-step statistics of
** gmm_stats.c as portable bytes, and the checks every decoded or merged
** statistics value passes.
**
** Requirements (tests cite them as "stats (N)", continuing gmm_stats.c's):
**  (6) The statistics BLOB, version 1, little-endian:
**        offset  size  field
**             0     4  magic "GMMs"
**             4     4  u32 format version (1)
**             8     4  u32 k, 12: u32 d, 16: u32 covariance type
**            20     4  u32 flags (bit 0: weighted rows; other bits 0)
**            24     8  u64 fingerprint of the model's BLOB
**            32     8  u64 n_rows (>= 1), 40: u64 n_skipped
**            48     8  f64 sum of weights, 56: f64 log-likelihood (total)
**            64  8k    nk
**               8kd    s1, k x d
**               ...    s2: full and tied, each component's lower triangle
**                      row by row (k d(d+1)/2); diag and spherical, k x d
**          last     8  u64 FNV-1a 64 of every byte before it
**      The decoder checks the exact length before reading, the checksum,
**      every range, finite values, nk >= 0 summing to at most the weight,
**      the weight equal to n_rows when not weighted, and every scatter
**      consistent with a positive semi-definite one (non-negative
**      diagonals, |s2_pq|^2 <= s2_pp s2_qq and s1_p^2 <= nk s2_pp to
**      rounding): bytes from an untrusted shard can fail the fit, never
**      crash it or poison it with a NaN.
**  (7) Version 2 is version 1 with the counts of missing values, 16 bytes
**      after the log-likelihood:
**        offset  size  field
**            64     8  u64 n_incomplete (rows used that had some feature
**                      missing, 1 .. n_rows)
**            72     8  u64 n_missing (missing cells of the rows used,
**                      n_incomplete .. n_incomplete x (d - 1))
**            80  8k    nk, then as version 1 from offset 64
**      The encoder writes version 2 only when some row had a missing
**      feature (n_incomplete > 0), else version 1, byte for byte what
**      builds before version 2 wrote; the decoder refuses a version 2 BLOB
**      with n_incomplete 0, so that statistics have one encoding. Version
**      1 decodes with both counts 0. gmm_estats_check checks the counts:
**      n_incomplete in 0 .. n_rows; n_missing 0 when n_incomplete is,
**      else in n_incomplete .. n_incomplete x (d - 1) (a row with every
**      feature missing is never used).
**  (8) Version 3 is version 2 (the counts at 64 and 72, 0 allowed) whose
**      covariance type may be any of mclust's fourteen models (4 .. 13,
**      gmm_cov_type; the sums are those of its shape). The encoder writes
**      it exactly when the type is above 3; the decoder refuses a version 3
**      BLOB of scikit-learn's four types and a type above 3 in versions 1
**      and 2.
*/
#include "gmm_internal.h"

#include <math.h>
#include <string.h>

/* ---- the statistics BLOB: stats (6) ---- */

#define STATS_HEADER_BYTES_V1 64
#define STATS_HEADER_BYTES_V2 80
#define STATS_NEWEST_VERSION  3 /* stats (8) */

/* Doubles stored for s2: lower triangles (full, tied) or diagonals. */
static size_t stored_s2_len(size_t k, size_t d, int diag_only) {
  return diag_only ? k * d : k * d * (d + 1) / 2;
}

static size_t stats_header_bytes(uint32_t version) {
  return version == 1 ? STATS_HEADER_BYTES_V1 : STATS_HEADER_BYTES_V2; /* and version 3 */
}

static size_t estats_len(uint32_t version, size_t k, size_t d, int diag_only) {
  return stats_header_bytes(version) + 8 * (k + k * d + stored_s2_len(k, d, diag_only)) + 8;
}

/* stats (7), (8): the version that will be written. */
static uint32_t stats_version_of(const gmm_estats *s) {
  if ((unsigned)s->covariance_type > GMM_COV_SPHERICAL) return 3;
  return s->n_incomplete != 0 || s->n_missing != 0 ? 2 : 1;
}

size_t gmm_estats_size(const gmm_estats *s) {
  if (s->k < 1 || s->k > GMM_MAX_K || s->d < 1 || s->d > GMM_MAX_D ||
      (unsigned)s->covariance_type >= GMM_N_COV_TYPES)
    return 0;
  return estats_len(stats_version_of(s), (size_t)s->k, (size_t)s->d, s->sums.diag_only);
}

void gmm_estats_write(const gmm_estats *s, unsigned char *out) {
  size_t k = (size_t)s->k, d = (size_t)s->d;
  uint32_t version = stats_version_of(s);
  memcpy(out, GMM_STATS_MAGIC, 4);
  gmm_put_u32(out + 4, version);
  gmm_put_u32(out + 8, (uint32_t)s->k);
  gmm_put_u32(out + 12, (uint32_t)s->d);
  gmm_put_u32(out + 16, (uint32_t)s->covariance_type);
  gmm_put_u32(out + 20, s->weighted ? 1u : 0u);
  gmm_put_u64(out + 24, s->fingerprint);
  gmm_put_u64(out + 32, (uint64_t)s->n_rows);
  gmm_put_u64(out + 40, (uint64_t)s->n_skipped);
  gmm_put_f64(out + 48, s->sum_weights);
  gmm_put_f64(out + 56, s->log_likelihood);
  if (version >= 2) {
    gmm_put_u64(out + 64, (uint64_t)s->n_incomplete);
    gmm_put_u64(out + 72, (uint64_t)s->n_missing);
  }
  unsigned char *p = out + stats_header_bytes(version);
  for (size_t i = 0; i < k + k * d; i++, p += 8) gmm_put_f64(p, s->sums.nk[i]);
  if (s->sums.diag_only) {
    for (size_t i = 0; i < k * d; i++, p += 8) gmm_put_f64(p, s->sums.s2[i]);
  } else {
    for (size_t j = 0; j < k; j++)
      for (size_t r = 0; r < d; r++)
        for (size_t q = 0; q <= r; q++, p += 8) gmm_put_f64(p, s->sums.s2[(j * d + r) * d + q]);
  }
  gmm_put_u64(p, gmm_fnv1a64(out, (size_t)(p - out)));
}

#define CORRUPT(...) gmm_errorf(err, err_len, GMM_ECORRUPT, __VA_ARGS__)

/* The sums, checked for what statistics of real rows satisfy. */
static gmm_status check_sums(const gmm_estats *s, char *err, size_t err_len) {
  size_t k = (size_t)s->k, d = (size_t)s->d;
  const gmm_stats *t = &s->sums;
  const double slack = 1.0 + 1e-6, tiny = 1e-300;
  double mass = 0.0;
  for (size_t j = 0; j < k; j++) {
    double nk = t->nk[j];
    if (!isfinite(nk) || nk < 0.0) return CORRUPT("the mass of component %zu is %g", j, nk);
    mass += nk;
    const double *s1 = t->s1 + j * d;
    const double *s2 = t->diag_only ? t->s2 + j * d : t->s2 + j * d * d;
    size_t step = t->diag_only ? 1 : d + 1; /* from one diagonal entry to the next */
    for (size_t p = 0; p < d; p++) {
      double v = s2[p * step];
      if (!isfinite(s1[p]) || !isfinite(v) || v < 0.0)
        return CORRUPT("the sums of component %zu, feature %zu are not those of real rows", j, p);
      if (fabs(s1[p]) > sqrt(nk) * sqrt(v) * slack + tiny)
        return CORRUPT("the first moment of component %zu, feature %zu exceeds its scatter", j,
                       p);
      if (t->diag_only) continue;
      for (size_t q = 0; q < p; q++) {
        double c = s2[p * d + q];
        if (!isfinite(c) || fabs(c) > sqrt(v) * sqrt(s2[q * step]) * slack + tiny)
          return CORRUPT("the scatter of component %zu is not positive semi-definite", j);
      }
    }
  }
  if (mass > s->sum_weights * slack + tiny)
    return CORRUPT("the components hold a mass of %g, more than the weight of the rows (%g)",
                   mass, s->sum_weights);
  return GMM_OK;
}

/* stats (7): the counts of missing values. */
static gmm_status check_missing_counts(const gmm_estats *s, char *err, size_t err_len) {
  int64_t n_inc = s->n_incomplete, n_miss = s->n_missing, per_row = (int64_t)s->d - 1;
  if (n_inc < 0 || n_inc > s->n_rows)
    return CORRUPT("n_incomplete %lld is out of range (0 .. n_rows = %lld)", (long long)n_inc,
                   (long long)s->n_rows);
  if (n_inc == 0 && n_miss != 0)
    return CORRUPT("n_missing is %lld, but no row has a missing feature", (long long)n_miss);
  /* n_inc x per_row may overflow; then it exceeds any int64 n_miss. */
  if (n_inc > 0 && (n_miss < n_inc || (n_inc <= INT64_MAX / (per_row > 0 ? per_row : 1) &&
                                        n_miss > n_inc * per_row)))
    return CORRUPT("n_missing %lld is out of range for %lld rows with missing features of d = "
                   "%d (each misses 1 .. d - 1)",
                   (long long)n_miss, (long long)n_inc, s->d);
  return GMM_OK;
}

gmm_status gmm_estats_check(const gmm_estats *s, char *err, size_t err_len) {
  if (s->n_rows < 1) return CORRUPT("they hold no row");
  if (!isfinite(s->sum_weights) || !(s->sum_weights > 0.0))
    return CORRUPT("the sum of weights %g is out of range", s->sum_weights);
  if (!s->weighted && s->sum_weights != (double)s->n_rows)
    return CORRUPT("unweighted statistics of %lld rows have a sum of weights of %g",
                   (long long)s->n_rows, s->sum_weights);
  if (!(fabs(s->log_likelihood) <= GMM_MAX_ABS_LOG_LIKELIHOOD) ||
      !isfinite(s->log_likelihood / s->sum_weights))
    return CORRUPT("the log-likelihood %g is out of range", s->log_likelihood);
  gmm_status rc = check_missing_counts(s, err, err_len);
  return rc == GMM_OK ? check_sums(s, err, err_len) : rc;
}

gmm_status gmm_estats_read(const unsigned char *p, size_t n, const gmm_allocator *a,
                           gmm_estats **out, char *err, size_t err_len) {
  *out = NULL;
  gmm_status rc = gmm_check_preamble(p, n, estats_len(1, 1, 1, 1), GMM_STATS_MAGIC,
                                     "statistics BLOB", STATS_NEWEST_VERSION, err, err_len);
  if (rc != GMM_OK) return rc;
  uint32_t version = gmm_get_u32(p + 4);
  uint32_t k = gmm_get_u32(p + 8), d = gmm_get_u32(p + 12), cov = gmm_get_u32(p + 16);
  uint32_t flags = gmm_get_u32(p + 20);
  if (k < 1 || k > GMM_MAX_K) return CORRUPT("k = %u is out of range (1 .. %d)", k, GMM_MAX_K);
  if (d < 1 || d > GMM_MAX_D) return CORRUPT("d = %u is out of range (1 .. %d)", d, GMM_MAX_D);
  if (cov >= GMM_N_COV_TYPES) return CORRUPT("covariance type %u is unknown", cov);
  if ((version == 3) != (cov > GMM_COV_SPHERICAL))
    return CORRUPT("covariance type %u is not one of format version %u", cov, version);
  if (flags > 1) return CORRUPT("unknown flags 0x%x", flags);
  int diag_only = gmm_stats_diag_only((gmm_cov_type)cov);
  size_t want = estats_len(version, k, d, diag_only);
  if (n != want)
    return CORRUPT("it has %zu bytes, but its header (k = %u, d = %u) needs %zu", n, k, d, want);
  if (gmm_fnv1a64(p, n - 8) != gmm_get_u64(p + n - 8))
    return CORRUPT("the checksum does not match its contents");
  uint64_t n_rows = gmm_get_u64(p + 32), n_skipped = gmm_get_u64(p + 40);
  double sum_weights = gmm_get_f64(p + 48), ll = gmm_get_f64(p + 56);
  if (n_rows < 1 || n_rows > INT64_MAX) return CORRUPT("n_rows %llu is out of range",
                                                       (unsigned long long)n_rows);
  if (n_skipped > INT64_MAX) return CORRUPT("n_skipped is out of range");
  uint64_t n_incomplete = version >= 2 ? gmm_get_u64(p + 64) : 0;
  uint64_t n_missing = version >= 2 ? gmm_get_u64(p + 72) : 0;
  if (version == 2 && n_incomplete == 0)
    return CORRUPT("format version 2 holds nothing version 1 cannot (no row with a missing "
                   "feature)");
  if (n_incomplete > INT64_MAX || n_missing > INT64_MAX)
    return CORRUPT("the counts of missing values are out of range");

  gmm_estats *s = gmm_alloc_array(a, 1, sizeof *s);
  if (!s) return gmm_errorf(err, err_len, GMM_ENOMEM, "out of memory");
  memset(s, 0, sizeof *s);
  s->allocator = *a;
  if (gmm_stats_init(&s->sums, (int)k, (int)d, diag_only, a) != GMM_OK) {
    gmm_release(a, s);
    return gmm_errorf(err, err_len, GMM_ENOMEM, "out of memory");
  }
  s->k = (int)k;
  s->d = (int)d;
  s->covariance_type = (gmm_cov_type)cov;
  s->weighted = (int)(flags & 1u);
  s->fingerprint = gmm_get_u64(p + 24);
  s->n_rows = (int64_t)n_rows;
  s->n_skipped = (int64_t)n_skipped;
  s->n_incomplete = (int64_t)n_incomplete;
  s->n_missing = (int64_t)n_missing;
  s->sum_weights = sum_weights;
  s->log_likelihood = ll;
  const unsigned char *q = p + stats_header_bytes(version);
  size_t kk = k, dd = d;
  for (size_t i = 0; i < kk + kk * dd; i++, q += 8) s->sums.nk[i] = gmm_get_f64(q);
  if (diag_only) {
    for (size_t i = 0; i < kk * dd; i++, q += 8) s->sums.s2[i] = gmm_get_f64(q);
  } else {
    memset(s->sums.s2, 0, kk * dd * dd * sizeof(double));
    for (size_t j = 0; j < kk; j++)
      for (size_t r = 0; r < dd; r++)
        for (size_t c = 0; c <= r; c++, q += 8) s->sums.s2[(j * dd + r) * dd + c] = gmm_get_f64(q);
  }
  rc = gmm_estats_check(s, err, err_len);
  if (rc != GMM_OK) {
    gmm_estats_free(s);
    return rc;
  }
  *out = s;
  return GMM_OK;
}
