/*
** gmm_blob.c -- the model BLOB: a fitted model as portable bytes.
**
** Every field is little-endian, doubles are IEEE-754 binary64. This build
** writes the oldest version that holds the model: version 3 when it was
** fitted with missing 'skip' or on rows with some feature missing, else
** version 2 (so a model of complete rows with the default options has the
** bytes earlier builds gave it). Format version 2:
**
**   offset  size  field
**        0     4  magic "GMMb"
**        4     4  u32 format version (2)
**        8     4  u32 k                 (1 .. GMM_MAX_K)
**       12     4  u32 d                 (1 .. GMM_MAX_D)
**       16     4  u32 covariance type   (0 full, 1 tied, 2 diag, 3 spherical)
**       20     4  u32 init method       (0 kmeans, 1 k-means++, 2 random, 3 random_from_data)
**       24     4  u32 max_iter
**       28     4  u32 n_init
**       32     8  f64 tol
**       40     8  f64 reg_covar
**       48     8  u64 seed
**       56     8  f64 n_samples         (rows used; sum of weights when weighted)
**       64     8  i64 n_skipped
**       72     8  f64 log_likelihood    (total, under the final parameters)
**       80     4  u32 n_iter
**       84     4  u32 flags             (bit 0 converged, bit 1 weighted rows,
**                                        bit 2 warm-started; other bits 0)
**       88     4  u32 best_init
**       92     4  u32 n_empty
**       96     4  u32 n_candidates      (0, or the candidates of a selection)
**      100     4  u32 reserved, 0
**      104  8k    weights
**         8kd     means, k x d row-major
**         ...     covariances, only what the type needs: full, each
**                 component's lower triangle row by row (k d(d+1)/2);
**                 tied, the one lower triangle (d(d+1)/2); diag, k x d
**                 variances; spherical, k variances
**         32 each candidates: u32 k, u32 covariance type, u32 flags (bit 0
**                 failed, bit 1 converged), u32 n_iter, f64 log_likelihood,
**                 f64 bic
**   last   8      u64 FNV-1a 64 checksum of every byte before it
**
** Format version 3: version 2 with the word at 100 given a meaning and 16
** bytes more before the weights:
**
**      100     4  u32 missing           (0 marginalize, 1 skip)
**      104     8  i64 n_incomplete      (rows used that had some feature
**                                        missing; 0 with skip)
**      112     8  f64 missing_fraction  (missing cells / (rows used x d), in
**                                        [0, (d - 1) / d]; 0 exactly when
**                                        n_incomplete is 0)
**      120  8k    weights, then as version 2 from offset 104
**
**   A version 3 BLOB always holds something version 2 cannot say (missing
**   'skip', or n_incomplete > 0): the encoding of a model is unique.
**
** Format version 1 (read forever): the same first 96 bytes with flags bit
** 0 only and covariance type 0 (full), then weights, means and full
** covariances as above, no candidates, and the checksum.
**
** Format version 4: version 3 (its fields at 100 .. 119 as there) with 16
** bytes more before the weights, candidates of 40 bytes, and the
** covariance types and init methods of mclust's models:
**
**       16     4  u32 covariance type   (0 .. 13: gmm_cov_type; the stored
**                                        covariances are those of its shape,
**                                        gmm_cov_shape)
**       20     4  u32 init method       (0 .. 5: also 4 labels, 5 hc)
**      120     4  u32 hc_rows           (2 .. GMM_MAX_HC_ROWS)
**      124     4  u32 criterion         (0 bic, 1 icl, 2 aic)
**      128     8  f64 log_map           (sum of w_i ln max_j p(j | x_i) over the
**                                        training rows, <= 0; the one quiet NaN
**                                        0x7ff8000000000000 when unknown)
**      136  8k    weights, then as version 2 from offset 104
**         40 each candidates: version 2's 32 bytes, then f64 icl (0 when the
**                 candidate failed)
**
**   A version 4 BLOB holds something version 3 cannot: a covariance type or
**   init method above 3, hc_rows or criterion not the default, a known
**   log_map, or a candidate of a type above 3 or with a known ICL.
**
** Versions 1 and 2 decode with missing 'marginalize', n_incomplete 0 and
** missing_fraction 0; versions 1 to 3 with hc_rows GMM_DEFAULT_HC_ROWS,
** criterion bic, log_map and every candidate's ICL unknown (NaN).
**
** Requirements (tests cite them as "blob (N)"):
**  (1) Encoding is deterministic: the same model gives the same bytes.
**  (2) The decoder reads nothing before it has checked that the length is
**      exactly the one the header's version, k, d, covariance type and
**      number of candidates imply.
**  (3) Every byte is validated: magic, version, ranges of every field, the
**      checksum, finite parameters, weights >= 0 summing to 1 (1e-9),
**      positive definite covariances, candidates that include the model.
**      Anything else is GMM_ECORRUPT with a sentence that says what is
**      wrong.
**  (4) Every format version ever written stays readable (one fixture per
**      version in tests/fixtures/).
**  (5) The encoder writes the oldest version that expresses the model
**      (version 2 unless missing is 'skip' or n_incomplete > 0), and the
**      decoder accepts a version 3 BLOB only when version 2 could not hold
**      it, so that a model has one encoding. Version 3's fields are checked
**      as (3) says: missing known; n_incomplete >= 0, 0 with 'skip', at
**      most n_samples when the rows were not weighted; missing_fraction
**      finite, in [+0, (d - 1) / d] (a row with every feature missing is
**      never used) and 0 exactly when n_incomplete is.
*/
#include "gmm_internal.h"

#include <math.h>
#include <string.h>

#define HEADER_BYTES_V1 96
#define HEADER_BYTES_V2 104
#define HEADER_BYTES_V3 120
#define HEADER_BYTES_V4 136
#define NEWEST_VERSION  4 /* the newest version read and written: blob (5) */
#define CANDIDATE_BYTES 32
#define CANDIDATE_BYTES_V4 40
#define CHECKSUM_BYTES  8

/* Doubles stored for the covariances of type t: blob layout above. */
static size_t stored_cov_len(size_t k, size_t d, gmm_cov_type t) {
  switch (gmm_cov_shape(t)) {
    case GMM_COV_FULL: return k * d * (d + 1) / 2;
    case GMM_COV_TIED: return d * (d + 1) / 2;
    case GMM_COV_DIAG: return k * d;
    case GMM_COV_SPHERICAL: return k;
    default: break;
  }
  return 0;
}

/* The bytes before the weights in a BLOB of this version (1 to 4). */
static size_t header_bytes(uint32_t version) {
  return version == 1   ? HEADER_BYTES_V1
         : version == 2 ? HEADER_BYTES_V2
         : version == 3 ? HEADER_BYTES_V3
                        : HEADER_BYTES_V4;
}

static size_t candidate_bytes(uint32_t version) {
  return version >= 4 ? CANDIDATE_BYTES_V4 : CANDIDATE_BYTES;
}

/* Exact byte length of a BLOB of this shape. k and d are within their
** limits, so nothing overflows. */
static size_t blob_len(uint32_t version, size_t k, size_t d, gmm_cov_type t, size_t n_cand) {
  size_t header = header_bytes(version);
  return header + 8 * (k + k * d + stored_cov_len(k, d, t)) + candidate_bytes(version) * n_cand +
         CHECKSUM_BYTES;
}

/* Whether the model holds something only version 4 can say: blob (5). */
static int needs_v4(const gmm_model *m) {
  const gmm_options *o = &m->options;
  int v4 = (unsigned)m->covariance_type > GMM_COV_SPHERICAL || o->init > GMM_INIT_RANDOM_FROM_DATA ||
           o->hc_rows != GMM_DEFAULT_HC_ROWS || o->criterion != GMM_CRITERION_BIC ||
           !isnan(m->summary.log_map);
  for (int c = 0; c < m->n_candidates && !v4; c++)
    v4 = (unsigned)m->candidates[c].covariance_type > GMM_COV_SPHERICAL ||
         (!m->candidates[c].failed && !isnan(m->candidates[c].icl));
  return v4;
}

/* blob (5): the version that will be written. */
static uint32_t version_of(const gmm_model *m) {
  if (needs_v4(m)) return 4;
  return m->options.missing != GMM_MISSING_MARGINALIZE || m->summary.n_incomplete != 0 ||
                 m->summary.missing_fraction != 0.0
             ? 3
             : 2;
}

size_t gmm_blob_size(const gmm_model *m) {
  if (m->k < 1 || m->k > GMM_MAX_K || m->d < 1 || m->d > GMM_MAX_D ||
      (unsigned)m->covariance_type >= GMM_N_COV_TYPES || m->n_candidates < 0 ||
      m->n_candidates > GMM_MAX_CANDIDATES)
    return 0;
  return blob_len(version_of(m), (size_t)m->k, (size_t)m->d, m->covariance_type,
                  (size_t)m->n_candidates);
}

/* Whether stored covariance doubles are the lower triangles of d x d
** matrices (full, tied) rather than variances (diag, spherical). */
static int is_matrix_type(gmm_cov_type t) {
  t = gmm_cov_shape(t);
  return t == GMM_COV_FULL || t == GMM_COV_TIED;
}

void gmm_blob_write(const gmm_model *m, unsigned char *out) {
  size_t k = (size_t)m->k, d = (size_t)m->d;
  const gmm_options *o = &m->options;
  const gmm_summary *s = &m->summary;
  gmm_options head = *o;
  head.k = m->k;
  head.covariance_type = m->covariance_type;
  uint32_t version = version_of(m);
  gmm_put_head(out, GMM_BLOB_MAGIC, version, m->d, &head);
  gmm_put_f64(out + 56, s->n_samples);
  gmm_put_u64(out + 64, (uint64_t)s->n_skipped);
  gmm_put_f64(out + 72, s->log_likelihood);
  gmm_put_u32(out + 80, (uint32_t)s->n_iter);
  gmm_put_u32(out + 84,
          (s->converged ? 1u : 0u) | (s->weighted ? 2u : 0u) | (s->warm_started ? 4u : 0u));
  gmm_put_u32(out + 88, (uint32_t)s->best_init);
  gmm_put_u32(out + 92, (uint32_t)s->n_empty);
  gmm_put_u32(out + 96, (uint32_t)m->n_candidates);
  gmm_put_u32(out + 100, version >= 3 ? (uint32_t)o->missing : 0);
  if (version >= 3) {
    gmm_put_u64(out + 104, (uint64_t)s->n_incomplete);
    gmm_put_f64(out + 112, s->missing_fraction);
  }
  if (version >= 4) {
    gmm_put_u32(out + 120, (uint32_t)o->hc_rows);
    gmm_put_u32(out + 124, (uint32_t)o->criterion);
    gmm_put_f64(out + 128, isnan(s->log_map) ? gmm_missing_value() : s->log_map);
  }
  unsigned char *p = out + header_bytes(version);
  for (size_t j = 0; j < k; j++, p += 8) gmm_put_f64(p, m->weights[j]);
  for (size_t i = 0; i < k * d; i++, p += 8) gmm_put_f64(p, m->means[i]);
  if (is_matrix_type(m->covariance_type)) {
    size_t n_mats = gmm_cov_shape(m->covariance_type) == GMM_COV_FULL ? k : 1;
    for (size_t j = 0; j < n_mats; j++) {
      const double *c = m->covariances + j * d * d;
      for (size_t r = 0; r < d; r++)
        for (size_t q = 0; q <= r; q++, p += 8) gmm_put_f64(p, c[r * d + q]);
    }
  } else {
    size_t n_var = gmm_cov_len(m->k, m->d, m->covariance_type);
    for (size_t i = 0; i < n_var; i++, p += 8) gmm_put_f64(p, m->covariances[i]);
  }
  for (int c = 0; c < m->n_candidates; c++, p += candidate_bytes(version)) {
    const gmm_candidate *cand = &m->candidates[c];
    gmm_put_u32(p, (uint32_t)cand->k);
    gmm_put_u32(p + 4, (uint32_t)cand->covariance_type);
    gmm_put_u32(p + 8, (cand->failed ? 1u : 0u) | (cand->converged ? 2u : 0u));
    gmm_put_u32(p + 12, (uint32_t)cand->n_iter);
    gmm_put_f64(p + 16, cand->log_likelihood);
    gmm_put_f64(p + 24, cand->bic);
    if (version >= 4)
      gmm_put_f64(p + 32, cand->failed ? 0.0 : isnan(cand->icl) ? gmm_missing_value() : cand->icl);
  }
  size_t body = (size_t)(p - out);
  gmm_put_u64(p, gmm_fnv1a64(out, body));
}

uint64_t gmm_blob_stored_checksum(const unsigned char *p, size_t n) {
  return n >= CHECKSUM_BYTES ? gmm_get_u64(p + n - CHECKSUM_BYTES) : 0;
}

#define CORRUPT(...) gmm_errorf(err, err_len, GMM_ECORRUPT, __VA_ARGS__)

/* Version 3's fields: blob (5). s->weighted and n_samples are read. */
static gmm_status check_missing(const unsigned char *p, uint32_t version_read, gmm_model *m,
                                char *err, size_t err_len) {
  gmm_summary *s = &m->summary;
  uint32_t missing = gmm_get_u32(p + 100);
  int64_t n_incomplete = (int64_t)gmm_get_u64(p + 104);
  double fraction = gmm_get_f64(p + 112), d = (double)m->d;
  if (missing > GMM_MISSING_SKIP)
    return CORRUPT("the missing option %u is unknown (0 marginalize, 1 skip)", missing);
  if (n_incomplete < 0) return CORRUPT("n_incomplete is negative");
  if (!isfinite(fraction) || !(fraction >= 0.0) || signbit(fraction) ||
      fraction * d > (d - 1.0) * (1.0 + 1e-12))
    return CORRUPT("missing_fraction %.17g is out of range (0 to (d - 1) / d, d = %d)", fraction,
                   m->d);
  if ((n_incomplete == 0) != (fraction == 0.0))
    return CORRUPT("n_incomplete %lld and missing_fraction %.17g disagree on whether a value was "
                   "missing",
                   (long long)n_incomplete, fraction);
  if (missing == GMM_MISSING_SKIP && n_incomplete != 0)
    return CORRUPT("a model fitted with missing 'skip' has %lld rows with missing features",
                   (long long)n_incomplete);
  if (missing == GMM_MISSING_MARGINALIZE && n_incomplete == 0 && version_read == 3)
    return CORRUPT("format version 3 holds nothing version 2 cannot (missing 'marginalize', no "
                   "missing value)");
  if (!s->weighted && (double)n_incomplete > s->n_samples)
    return CORRUPT("n_incomplete %lld exceeds the %.17g rows used", (long long)n_incomplete,
                   s->n_samples);
  m->options.missing = (gmm_missing)missing;
  s->n_incomplete = n_incomplete;
  s->missing_fraction = fraction;
  return GMM_OK;
}

/* Version 4's fields: blob (5). Whether the model needs version 4 at all
** is checked once the candidates are read. */
static gmm_status check_v4(const unsigned char *p, gmm_model *m, char *err, size_t err_len) {
  uint32_t hc_rows = gmm_get_u32(p + 120), criterion = gmm_get_u32(p + 124);
  uint64_t map_bits = gmm_get_u64(p + 128);
  double log_map = gmm_get_f64(p + 128);
  if (hc_rows < 2 || hc_rows > GMM_MAX_HC_ROWS) return CORRUPT("hc_rows %u is out of range", hc_rows);
  if (criterion > GMM_CRITERION_AIC) return CORRUPT("criterion %u is unknown", criterion);
  if (isnan(log_map) ? map_bits != UINT64_C(0x7ff8000000000000)
                     : !(log_map <= 0.0 && log_map >= -GMM_MAX_ABS_LOG_LIKELIHOOD))
    return CORRUPT("log_map %g is out of range (a finite number <= 0, or unknown)", log_map);
  m->options.hc_rows = (int)hc_rows;
  m->options.criterion = (gmm_criterion)criterion;
  m->summary.log_map = log_map;
  return GMM_OK;
}

/* Checks the header fields that do not need the parameters: blob (3). */
static gmm_status check_header(const unsigned char *p, uint32_t version, gmm_model *m, char *err,
                               size_t err_len) {
  gmm_options *o = &m->options;
  gmm_summary *s = &m->summary;
  uint32_t init = gmm_get_u32(p + 20), max_iter = gmm_get_u32(p + 24), n_init = gmm_get_u32(p + 28);
  uint32_t n_iter = gmm_get_u32(p + 80), flags = gmm_get_u32(p + 84);
  uint32_t best_init = gmm_get_u32(p + 88), n_empty = gmm_get_u32(p + 92);
  if (init > (version >= 4 ? GMM_INIT_HC : GMM_INIT_RANDOM_FROM_DATA))
    return CORRUPT("unknown init method %u", init);
  if (max_iter > GMM_MAX_ITER) return CORRUPT("max_iter %u is out of range", max_iter);
  if (n_init < 1 || n_init > GMM_MAX_N_INIT) return CORRUPT("n_init %u is out of range", n_init);
  o->init = (gmm_init_method)init;
  o->max_iter = (int)max_iter;
  o->n_init = (int)n_init;
  o->tol = gmm_get_f64(p + 32);
  o->reg_covar = gmm_get_f64(p + 40);
  o->seed = gmm_get_u64(p + 48);
  if (!isfinite(o->tol) || o->tol < 0) return CORRUPT("tol %g is out of range", o->tol);
  if (!isfinite(o->reg_covar) || o->reg_covar < 0)
    return CORRUPT("reg_covar %g is out of range", o->reg_covar);
  s->n_samples = gmm_get_f64(p + 56);
  s->n_skipped = (int64_t)gmm_get_u64(p + 64);
  s->log_likelihood = gmm_get_f64(p + 72);
  if (!isfinite(s->n_samples) || !(s->n_samples > 0))
    return CORRUPT("n_samples %g is out of range", s->n_samples);
  if (s->n_skipped < 0) return CORRUPT("n_skipped is negative");
  if (!(fabs(s->log_likelihood) <= GMM_MAX_ABS_LOG_LIKELIHOOD))
    return CORRUPT("the log-likelihood %g is out of range", s->log_likelihood);
  if (n_iter > max_iter) return CORRUPT("n_iter %u exceeds max_iter %u", n_iter, max_iter);
  if (flags > (version == 1 ? 1u : 7u)) return CORRUPT("unknown flags 0x%x", flags);
  if (best_init >= n_init) return CORRUPT("best_init %u is not below n_init %u", best_init, n_init);
  if (n_empty > (uint32_t)o->k) return CORRUPT("n_empty %u exceeds k", n_empty);
  if (version == 2 && gmm_get_u32(p + 100) != 0) return CORRUPT("reserved bytes are not zero");
  s->n_iter = (int)n_iter;
  s->converged = (flags & 1u) != 0;
  s->weighted = (flags & 2u) != 0;
  s->warm_started = (flags & 4u) != 0;
  s->best_init = (int)best_init;
  s->n_empty = (int)n_empty;
  gmm_status rc = version >= 3 ? check_missing(p, version, m, err, err_len) : GMM_OK;
  return rc == GMM_OK && version >= 4 ? check_v4(p, m, err, err_len) : rc;
}

/* Reads and checks the parameters: blob (3). Returns the position after
** them. */
static gmm_status read_params(const unsigned char **pp, gmm_model *m, char *err, size_t err_len) {
  const unsigned char *p = *pp;
  size_t k = (size_t)m->k, d = (size_t)m->d;
  double sum = 0.0;
  for (size_t j = 0; j < k; j++, p += 8) {
    double w = m->weights[j] = gmm_get_f64(p);
    if (!isfinite(w) || w < 0.0 || w > 1.0) return CORRUPT("weight %zu is %g", j, w);
    sum += w;
  }
  if (fabs(sum - 1.0) > 1e-9) return CORRUPT("the weights sum to %.17g, not 1", sum);
  for (size_t i = 0; i < k * d; i++, p += 8) {
    m->means[i] = gmm_get_f64(p);
    if (!isfinite(m->means[i]))
      return CORRUPT("mean %zu of component %zu is not finite", i % d, i / d);
  }
  if (is_matrix_type(m->covariance_type)) {
    size_t n_mats = gmm_cov_shape(m->covariance_type) == GMM_COV_FULL ? k : 1;
    for (size_t j = 0; j < n_mats; j++) {
      double *c = m->covariances + j * d * d;
      for (size_t r = 0; r < d; r++)
        for (size_t q = 0; q <= r; q++, p += 8) {
          double v = gmm_get_f64(p);
          if (!isfinite(v)) return CORRUPT("covariance %zu is not finite", j);
          c[r * d + q] = c[q * d + r] = v;
        }
    }
  } else {
    size_t n_var = gmm_cov_len(m->k, m->d, m->covariance_type);
    for (size_t i = 0; i < n_var; i++, p += 8) {
      m->covariances[i] = gmm_get_f64(p);
      if (!isfinite(m->covariances[i])) return CORRUPT("variance %zu is not finite", i);
    }
  }
  char why[128];
  if (gmm_model_prepare(m, why, sizeof why) != GMM_OK) return CORRUPT("%s", why);
  *pp = p;
  return GMM_OK;
}

/* Reads and checks the candidates of a selection: blob (3). */
static gmm_status read_candidates(const unsigned char *p, uint32_t version, gmm_model *m,
                                  gmm_candidate *c, int n, char *err, size_t err_len) {
  int has_self = 0;
  for (int i = 0; i < n; i++, p += candidate_bytes(version)) {
    uint32_t k = gmm_get_u32(p), type = gmm_get_u32(p + 4), flags = gmm_get_u32(p + 8);
    uint32_t n_iter = gmm_get_u32(p + 12);
    if (k < 1 || k > GMM_MAX_K) return CORRUPT("candidate %d has k = %u", i, k);
    if (type > (version >= 4 ? GMM_N_COV_TYPES - 1 : GMM_COV_SPHERICAL))
      return CORRUPT("candidate %d has covariance type %u", i, type);
    if (flags > 3) return CORRUPT("candidate %d has unknown flags 0x%x", i, flags);
    if (n_iter > GMM_MAX_ITER) return CORRUPT("candidate %d has n_iter %u", i, n_iter);
    c[i].k = (int)k;
    c[i].covariance_type = (gmm_cov_type)type;
    c[i].failed = (flags & 1u) != 0;
    c[i].converged = (flags & 2u) != 0;
    c[i].n_iter = (int)n_iter;
    c[i].log_likelihood = gmm_get_f64(p + 16);
    c[i].bic = gmm_get_f64(p + 24);
    if (!(fabs(c[i].log_likelihood) <= GMM_MAX_ABS_LOG_LIKELIHOOD) || !isfinite(c[i].bic))
      return CORRUPT("candidate %d has an out-of-range log-likelihood or BIC", i);
    c[i].icl = NAN;
    if (version >= 4) {
      uint64_t bits = gmm_get_u64(p + 32);
      c[i].icl = gmm_get_f64(p + 32);
      if (isnan(c[i].icl) ? bits != UINT64_C(0x7ff8000000000000) || c[i].failed
                          : !isfinite(c[i].icl) || (c[i].failed && bits != 0))
        return CORRUPT("candidate %d has an out-of-range ICL", i);
    }
    c[i].aic = c[i].failed ? 0.0
                           : -2.0 * c[i].log_likelihood +
                                 2.0 * gmm_n_parameters(c[i].k, m->d, c[i].covariance_type);
    has_self |= !c[i].failed && c[i].k == m->k && c[i].covariance_type == m->covariance_type;
  }
  if (!has_self) return CORRUPT("the model is not among its candidates");
  return gmm_model_set_candidates(m, c, n) == GMM_OK
             ? GMM_OK
             : gmm_errorf(err, err_len, GMM_ENOMEM, "out of memory");
}

gmm_status gmm_blob_read(const unsigned char *p, size_t n, const gmm_allocator *a, gmm_model **out,
                         char *err, size_t err_len) {
  *out = NULL;
  if (n < HEADER_BYTES_V1 + CHECKSUM_BYTES)
    return CORRUPT("it is too short (%zu bytes; the smallest model has %d)", n,
                   HEADER_BYTES_V1 + CHECKSUM_BYTES);
  if (memcmp(p, GMM_BLOB_MAGIC, 4) != 0) return CORRUPT("it does not start with the gmm magic");
  uint32_t version = gmm_get_u32(p + 4);
  if (version < 1 || version > NEWEST_VERSION)
    return CORRUPT("format version %u is not one this build reads (1 to %d)", version,
                   NEWEST_VERSION);
  if (version >= 2 && n < header_bytes(version) + CHECKSUM_BYTES)
    return CORRUPT("it is too short (%zu bytes; a version %u model has at least %zu)", n, version,
                   header_bytes(version) + CHECKSUM_BYTES);
  uint32_t k = gmm_get_u32(p + 8), d = gmm_get_u32(p + 12), cov = gmm_get_u32(p + 16);
  uint32_t n_cand = version >= 2 ? gmm_get_u32(p + 96) : 0;
  if (k < 1 || k > GMM_MAX_K) return CORRUPT("k = %u is out of range (1 .. %d)", k, GMM_MAX_K);
  if (d < 1 || d > GMM_MAX_D) return CORRUPT("d = %u is out of range (1 .. %d)", d, GMM_MAX_D);
  if (cov > (version >= 4 ? GMM_N_COV_TYPES - 1 : GMM_COV_SPHERICAL) ||
      (version == 1 && cov != GMM_COV_FULL))
    return CORRUPT("covariance type %u is not one of format version %u", cov, version);
  if (n_cand > GMM_MAX_CANDIDATES)
    return CORRUPT("%u candidates, maximum %d", n_cand, GMM_MAX_CANDIDATES);
  size_t want = blob_len(version, k, d, (gmm_cov_type)cov, n_cand);
  if (n != want)
    return CORRUPT("it has %zu bytes, but its header (k = %u, d = %u) needs %zu", n, k, d, want);
  if (gmm_fnv1a64(p, n - CHECKSUM_BYTES) != gmm_blob_stored_checksum(p, n))
    return CORRUPT("the checksum does not match its contents");

  gmm_model *m = gmm_model_new((int)k, (int)d, (gmm_cov_type)cov, a);
  gmm_candidate *cand = n_cand ? gmm_alloc_array(a, n_cand, sizeof *cand) : NULL;
  if (!m || (n_cand && !cand)) {
    gmm_model_free(m);
    gmm_release(a, cand);
    return gmm_errorf(err, err_len, GMM_ENOMEM, "out of memory");
  }
  const unsigned char *body = p + header_bytes(version);
  m->blob_version = (int)version;
  gmm_status rc = check_header(p, version, m, err, err_len);
  if (rc == GMM_OK) rc = read_params(&body, m, err, err_len);
  if (rc == GMM_OK && n_cand)
    rc = read_candidates(body, version, m, cand, (int)n_cand, err, err_len);
  if (rc == GMM_OK && version == 4 && !needs_v4(m))
    rc = CORRUPT("format version 4 holds nothing version 3 cannot (scikit-learn's init and "
                 "covariance type, default hc_rows and criterion, no ICL)");
  gmm_release(a, cand);
  if (rc != GMM_OK) {
    gmm_model_free(m);
    return rc;
  }
  *out = m;
  return GMM_OK;
}
