/*
** gmm_blob.c -- the model BLOB: a fitted model as portable bytes.
**
** Format version 1, every field little-endian, doubles as IEEE-754 binary64:
**
**   offset  size  field
**        0     4  magic "GMMb"
**        4     4  u32 format version (1)
**        8     4  u32 k                 (1 .. GMM_MAX_K)
**       12     4  u32 d                 (1 .. GMM_MAX_D)
**       16     4  u32 covariance type   (0 full; the only type of version 1)
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
**       84     4  u32 flags             (bit 0: converged; other bits 0)
**       88     4  u32 best_init
**       92     4  u32 n_empty
**       96  8k    weights
**         8kd     means, k x d row-major
**         8kd(d+1)/2  covariances: each component's lower triangle, row by row
**   last   8      u64 FNV-1a 64 checksum of every byte before it
**
** Requirements (tests cite them as "blob (N)"):
**  (1) Encoding is deterministic: the same model gives the same bytes.
**  (2) The decoder reads nothing before it has checked that the length is
**      exactly the one the header's k and d imply.
**  (3) Every byte is validated: magic, version, ranges of every field, the
**      checksum, finite parameters, weights >= 0 summing to 1 (1e-9),
**      symmetric positive definite covariances. Anything else is
**      GMM_ECORRUPT with a sentence that says what is wrong.
**  (4) Every format version ever written stays readable (one fixture per
**      version in tests/fixtures/).
*/
#include "gmm_internal.h"

#include <math.h>
#include <string.h>

#define HEADER_BYTES   96
#define CHECKSUM_BYTES 8

static uint64_t fnv1a64(const unsigned char *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

static void put_u32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void put_f64(unsigned char *p, double v) {
  uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  put_u64(p, bits);
}

static uint32_t get_u32(const unsigned char *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

static uint64_t get_u64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

static double get_f64(const unsigned char *p) {
  uint64_t bits = get_u64(p);
  double v;
  memcpy(&v, &bits, sizeof v);
  return v;
}

/* Doubles of parameters for k, d (full covariance, lower triangles). */
static size_t param_count(size_t k, size_t d) {
  return k + k * d + k * d * (d + 1) / 2;
}

size_t gmm_blob_size(const gmm_model *m) {
  if (m->k < 1 || m->k > GMM_MAX_K || m->d < 1 || m->d > GMM_MAX_D) return 0;
  return HEADER_BYTES + 8 * param_count((size_t)m->k, (size_t)m->d) + CHECKSUM_BYTES;
}

void gmm_blob_write(const gmm_model *m, unsigned char *out) {
  size_t k = (size_t)m->k, d = (size_t)m->d;
  const gmm_options *o = &m->options;
  const gmm_summary *s = &m->summary;
  memcpy(out, GMM_BLOB_MAGIC, 4);
  put_u32(out + 4, GMM_BLOB_VERSION);
  put_u32(out + 8, (uint32_t)m->k);
  put_u32(out + 12, (uint32_t)m->d);
  put_u32(out + 16, (uint32_t)m->covariance_type);
  put_u32(out + 20, (uint32_t)o->init);
  put_u32(out + 24, (uint32_t)o->max_iter);
  put_u32(out + 28, (uint32_t)o->n_init);
  put_f64(out + 32, o->tol);
  put_f64(out + 40, o->reg_covar);
  put_u64(out + 48, o->seed);
  put_f64(out + 56, s->n_samples);
  put_u64(out + 64, (uint64_t)s->n_skipped);
  put_f64(out + 72, s->log_likelihood);
  put_u32(out + 80, (uint32_t)s->n_iter);
  put_u32(out + 84, s->converged ? 1u : 0u);
  put_u32(out + 88, (uint32_t)s->best_init);
  put_u32(out + 92, (uint32_t)s->n_empty);
  unsigned char *p = out + HEADER_BYTES;
  for (size_t j = 0; j < k; j++, p += 8) put_f64(p, m->weights[j]);
  for (size_t i = 0; i < k * d; i++, p += 8) put_f64(p, m->means[i]);
  for (size_t j = 0; j < k; j++) {
    const double *c = m->covariances + j * d * d;
    for (size_t r = 0; r < d; r++)
      for (size_t q = 0; q <= r; q++, p += 8) put_f64(p, c[r * d + q]);
  }
  size_t body = (size_t)(p - out);
  put_u64(p, fnv1a64(out, body));
}

uint64_t gmm_blob_stored_checksum(const unsigned char *p, size_t n) {
  return n >= CHECKSUM_BYTES ? get_u64(p + n - CHECKSUM_BYTES) : 0;
}

#define CORRUPT(...) gmm_errorf(err, err_len, GMM_ECORRUPT, __VA_ARGS__)

/* Checks the header fields that do not need the parameters: blob (3). */
static gmm_status check_header(const unsigned char *p, gmm_options *o, gmm_summary *s, char *err,
                               size_t err_len) {
  uint32_t init = get_u32(p + 20), max_iter = get_u32(p + 24), n_init = get_u32(p + 28);
  uint32_t n_iter = get_u32(p + 80), flags = get_u32(p + 84);
  uint32_t best_init = get_u32(p + 88), n_empty = get_u32(p + 92);
  if (init > GMM_INIT_RANDOM_FROM_DATA) return CORRUPT("unknown init method %u", init);
  if (max_iter > GMM_MAX_ITER) return CORRUPT("max_iter %u is out of range", max_iter);
  if (n_init < 1 || n_init > GMM_MAX_N_INIT) return CORRUPT("n_init %u is out of range", n_init);
  o->init = (gmm_init_method)init;
  o->max_iter = (int)max_iter;
  o->n_init = (int)n_init;
  o->tol = get_f64(p + 32);
  o->reg_covar = get_f64(p + 40);
  o->seed = get_u64(p + 48);
  if (!isfinite(o->tol) || o->tol < 0) return CORRUPT("tol %g is out of range", o->tol);
  if (!isfinite(o->reg_covar) || o->reg_covar < 0)
    return CORRUPT("reg_covar %g is out of range", o->reg_covar);
  s->n_samples = get_f64(p + 56);
  s->n_skipped = (int64_t)get_u64(p + 64);
  s->log_likelihood = get_f64(p + 72);
  if (!isfinite(s->n_samples) || !(s->n_samples > 0))
    return CORRUPT("n_samples %g is out of range", s->n_samples);
  if (s->n_skipped < 0) return CORRUPT("n_skipped is negative");
  if (!isfinite(s->log_likelihood)) return CORRUPT("the log-likelihood is not finite");
  if (n_iter > max_iter) return CORRUPT("n_iter %u exceeds max_iter %u", n_iter, max_iter);
  if (flags > 1) return CORRUPT("unknown flags 0x%x", flags);
  if (best_init >= n_init) return CORRUPT("best_init %u is not below n_init %u", best_init, n_init);
  if (n_empty > (uint32_t)o->k) return CORRUPT("n_empty %u exceeds k", n_empty);
  s->n_iter = (int)n_iter;
  s->converged = (int)flags;
  s->best_init = (int)best_init;
  s->n_empty = (int)n_empty;
  return GMM_OK;
}

/* Reads and checks the parameters: blob (3). */
static gmm_status read_params(const unsigned char *p, gmm_model *m, char *err, size_t err_len) {
  size_t k = (size_t)m->k, d = (size_t)m->d;
  double sum = 0.0;
  for (size_t j = 0; j < k; j++, p += 8) {
    double w = m->weights[j] = get_f64(p);
    if (!isfinite(w) || w < 0.0 || w > 1.0) return CORRUPT("weight %zu is %g", j, w);
    sum += w;
  }
  if (fabs(sum - 1.0) > 1e-9) return CORRUPT("the weights sum to %.17g, not 1", sum);
  for (size_t i = 0; i < k * d; i++, p += 8) {
    m->means[i] = get_f64(p);
    if (!isfinite(m->means[i]))
      return CORRUPT("mean %zu of component %zu is not finite", i % d, i / d);
  }
  for (size_t j = 0; j < k; j++) {
    double *c = m->covariances + j * d * d;
    for (size_t r = 0; r < d; r++)
      for (size_t q = 0; q <= r; q++, p += 8) {
        double v = get_f64(p);
        if (!isfinite(v)) return CORRUPT("covariance %zu is not finite", j);
        c[r * d + q] = c[q * d + r] = v;
      }
  }
  char why[128];
  if (gmm_model_prepare(m, why, sizeof why) != GMM_OK) return CORRUPT("%s", why);
  return GMM_OK;
}

gmm_status gmm_blob_read(const unsigned char *p, size_t n, const gmm_allocator *a, gmm_model **out,
                         char *err, size_t err_len) {
  *out = NULL;
  if (n < HEADER_BYTES + CHECKSUM_BYTES)
    return CORRUPT("it is too short (%zu bytes; the smallest model has %d)", n,
                   HEADER_BYTES + CHECKSUM_BYTES);
  if (memcmp(p, GMM_BLOB_MAGIC, 4) != 0) return CORRUPT("it does not start with the gmm magic");
  uint32_t version = get_u32(p + 4);
  if (version != GMM_BLOB_VERSION)
    return CORRUPT("format version %u is not one this build reads (1)", version);
  uint32_t k = get_u32(p + 8), d = get_u32(p + 12), cov = get_u32(p + 16);
  if (k < 1 || k > GMM_MAX_K) return CORRUPT("k = %u is out of range (1 .. %d)", k, GMM_MAX_K);
  if (d < 1 || d > GMM_MAX_D) return CORRUPT("d = %u is out of range (1 .. %d)", d, GMM_MAX_D);
  if (cov != GMM_COV_FULL) return CORRUPT("covariance type %u is not one of format version 1", cov);
  size_t want = HEADER_BYTES + 8 * param_count(k, d) + CHECKSUM_BYTES;
  if (n != want) return CORRUPT("it has %zu bytes, but k = %u and d = %u need %zu", n, k, d, want);
  if (fnv1a64(p, n - CHECKSUM_BYTES) != gmm_blob_stored_checksum(p, n))
    return CORRUPT("the checksum does not match its contents");

  gmm_model *m = gmm_model_new((int)k, (int)d, GMM_COV_FULL, a);
  if (!m) return gmm_errorf(err, err_len, GMM_ENOMEM, "out of memory");
  gmm_status rc = check_header(p, &m->options, &m->summary, err, err_len);
  if (rc == GMM_OK) rc = read_params(p + HEADER_BYTES, m, err, err_len);
  if (rc != GMM_OK) {
    gmm_model_free(m);
    return rc;
  }
  *out = m;
  return GMM_OK;
}
