/*
** gmm_istate.c -- initialisation in one pass: a bounded sample of the rows
** that does not depend on their order or on how they are split, and the
** initial model drawn from it.
**
** Requirements (tests cite them as "istate (N)"):
**  (1) Each row gets a key, a 64-bit hash of its values (-0.0 read as +0.0,
**      and a missing value, NaN, as the one quiet NaN of bits
**      0x7ff8000000000000, as the state stores it) seeded with the options'
**      seed. The state keeps the sample_size rows
**      that come first in the order (key, then the values' bits, then the
**      weight's): the bottom of a total order, so the same multiset of rows
**      gives the same sample whatever their order and split, and the sample
**      of a union is the bottom of the two samples merged. (The sum of
**      weights is added in arrival order: with weights it is equal to
**      rounding; without, it is the count.)
**  (2) Memory is the sample: at most sample_size x (d + 2) doubles, however
**      many rows pass; the slots grow with the rows held (doubling, from
**      64), so a small group costs little whatever sample_size says. While
**      rows arrive the sample is a max-heap on that order (a row that does
**      not beat the largest costs one comparison).
**  (3) A state carries the options of the passes (k, covariance_type, init,
**      max_iter, n_init, tol, reg_covar, seed, missing, sample_size), d,
**      whether rows were weighted, the rows used and skipped and the sum of
**      weights. Two states merge only when all of these but the counts
**      agree; the error names the first that differs.
**  (4) gmm_istate_start runs gmm_fit's initialisation on the sample, in
**      canonical order (complete rows first, then the rows of each pattern
**      of missing features), with the state's missing option and no EM
**      iteration: when every row is in the sample (n_rows <= sample_size)
**      the model has the parameters gmm_fit with max_iter 0 gives on the
**      same rows. Its n_samples and n_skipped are the state's, its
**      log-likelihood and n_incomplete the sample's scaled to every row
**      (n_incomplete rounded up), its missing_fraction the sample's.
**  (5) The state BLOB, version 1, little-endian:
**        offset  size  field
**             0     4  magic "GMMi"
**             4     4  u32 format version (1)
**             8     4  u32 k, 12: u32 d, 16: u32 covariance type, 20: u32 init
**            24     4  u32 max_iter, 28: u32 n_init
**            32     8  f64 tol, 40: f64 reg_covar, 48: u64 seed
**            56     4  u32 sample_size, 60: u32 flags (bit 0: weighted rows)
**            64     8  u64 n_rows (>= 1), 72: u64 n_skipped, 80: f64 sum of weights
**            88     4  u32 n_held = min(sample_size, n_rows), 92: u32 reserved, 0
**            96   ...  n_held rows in ascending order, each u64 key, f64
**                      weight (1 when not weighted), d x f64 values
**          last     8  u64 FNV-1a 64 of every byte before it
**      The decoder checks the exact length before reading, the checksum,
**      every range, each key against the hash of its row, the order, finite
**      canonical values and positive weights.
**  (6) Missing values. With the option missing 'marginalize' (the
**      default) a row may have missing values (NaN) but not every value
**      missing: gmm_istate_add refuses such a row with GMM_EINVAL, and
**      stores every NaN as the quiet NaN of bits 0x7ff8000000000000, so
**      that keys and bytes do not depend on a NaN's payload. With missing
**      'skip' a NaN is GMM_EINVAL, as an infinite value is always (the
**      state is then unchanged). The state BLOB, version 2, is version 1
**      with the word at offset 92 the missing option (0 marginalize, 1
**      skip). The encoder writes version 2 only when missing is 'skip' or
**      the sample holds a missing value, else version 1, byte for byte
**      what builds before version 2 wrote; the decoder refuses a version 2
**      BLOB that version 1 could hold, so that a state has one encoding.
**      Version 1 decodes with missing 'marginalize' and finite values
**      only; version 2 with 'marginalize' also takes values of exactly
**      those NaN bits, but not a row of them only.
**  (7) Version 3 is version 2 (the missing word at 92) whose covariance
**      type may be any of mclust's fourteen models (4 .. 13) and whose
**      init may be 'hc' (5): gmm_istate_start then builds the tree on the
**      sample (at most GMM_DEFAULT_HC_ROWS of its rows). It is written
**      exactly when one of the two is used; the decoder refuses them in
**      versions 1 and 2, and a version 3 BLOB that holds neither.
*/
#include "gmm_internal.h"

#include <math.h>
#include <string.h>

#define ISTATE_HEADER_BYTES   96
#define ISTATE_FIRST_SLOTS    64 /* istate (2) */
#define ISTATE_NEWEST_VERSION 3  /* istate (7) */
#define MISSING_BITS          UINT64_C(0x7ff8000000000000) /* istate (6) */

/* splitmix64's finaliser: every input bit moves every output bit. */
static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* The one NaN a state stores for a missing value: istate (6). */
static double missing_value(void) {
  uint64_t b = MISSING_BITS;
  double v;
  memcpy(&v, &b, sizeof v);
  return v;
}

static uint64_t value_bits(double v) {
  uint64_t b;
  if (v == 0.0) v = 0.0; /* -0.0 and +0.0 are one value */
  memcpy(&b, &v, sizeof b);
  return b;
}

/* istate (1): the row's key. */
static uint64_t row_key(uint64_t seed, const double *x, int d) {
  uint64_t h = mix64(seed ^ 0x9e3779b97f4a7c15ULL);
  for (int p = 0; p < d; p++) h = mix64(h ^ value_bits(x[p])) + 0x9e3779b97f4a7c15ULL;
  return h;
}

/* The order of istate (1): negative, zero or positive. */
static int compare_entries(const gmm_istate *s, size_t a, size_t b) {
  if (s->keys[a] != s->keys[b]) return s->keys[a] < s->keys[b] ? -1 : 1;
  const double *xa = s->x + a * (size_t)s->d, *xb = s->x + b * (size_t)s->d;
  for (int p = 0; p < s->d; p++) {
    uint64_t ba = value_bits(xa[p]), bb = value_bits(xb[p]);
    if (ba != bb) return ba < bb ? -1 : 1;
  }
  uint64_t wa = value_bits(s->w[a]), wb = value_bits(s->w[b]);
  return wa < wb ? -1 : wa > wb;
}

/* Entries are stored in capacity + 1 slots; the last is scratch. */
static void copy_entry(gmm_istate *s, size_t to, size_t from) {
  size_t dd = (size_t)s->d;
  s->keys[to] = s->keys[from];
  s->w[to] = s->w[from];
  memcpy(s->x + to * dd, s->x + from * dd, dd * sizeof(double));
}

static void swap_entries(gmm_istate *s, size_t a, size_t b) {
  size_t tmp = (size_t)s->capacity;
  copy_entry(s, tmp, a);
  copy_entry(s, a, b);
  copy_entry(s, b, tmp);
}

static void sift_down(gmm_istate *s, size_t i, size_t n) {
  for (;;) {
    size_t top = i, l = 2 * i + 1, r = l + 1;
    if (l < n && compare_entries(s, l, top) > 0) top = l;
    if (r < n && compare_entries(s, r, top) > 0) top = r;
    if (top == i) return;
    swap_entries(s, i, top);
    i = top;
  }
}

static void sift_up(gmm_istate *s, size_t i) {
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (compare_entries(s, i, parent) <= 0) return;
    swap_entries(s, i, parent);
    i = parent;
  }
}

/* The max-heap into ascending order, in place (heapsort's second half). */
static void sort_sample(gmm_istate *s) {
  if (s->sorted) return;
  for (size_t n = (size_t)s->n_held; n > 1; n--) {
    swap_entries(s, 0, n - 1);
    sift_down(s, 0, n - 1);
  }
  s->sorted = 1;
}

/* Ascending order back into a max-heap: reversed, an ascending array is a
** max-heap already. */
static void heapify_sample(gmm_istate *s) {
  if (!s->sorted) return;
  for (size_t i = 0, j = (size_t)s->n_held; i + 1 < j; i++, j--) swap_entries(s, i, j - 1);
  s->sorted = 0;
}

/* Arrays for `slots` entries of d values. */
static gmm_status alloc_entries(const gmm_allocator *a, size_t slots, int d, uint64_t **keys,
                                double **w, double **x) {
  *keys = gmm_alloc_array(a, slots, sizeof **keys);
  *w = gmm_alloc_array(a, slots, sizeof **w);
  *x = gmm_alloc_array(a, slots, (size_t)d * sizeof **x);
  if (*keys && *w && *x) return GMM_OK;
  gmm_release(a, *keys);
  gmm_release(a, *w);
  gmm_release(a, *x);
  *keys = NULL;
  *w = *x = NULL;
  return GMM_ENOMEM;
}

gmm_status gmm_istate_new(const gmm_options *opt, int d, int weighted, int sample_size,
                          const gmm_allocator *a, gmm_istate **out) {
  *out = NULL;
  if (d < 1 || d > GMM_MAX_D || sample_size < 1 || sample_size > GMM_MAX_SAMPLE_SIZE ||
      (unsigned)opt->missing > GMM_MISSING_SKIP ||
      (unsigned)opt->covariance_type >= GMM_N_COV_TYPES || (unsigned)opt->init > GMM_INIT_HC ||
      opt->init == GMM_INIT_LABELS || opt->prior != GMM_PRIOR_NONE)
    return GMM_EINVAL; /* passes fit maximum likelihood models */
  gmm_istate *s = gmm_alloc_array(a, 1, sizeof *s);
  if (!s) return GMM_ENOMEM;
  memset(s, 0, sizeof *s);
  s->options = *opt;
  s->options.weights_init = s->options.means_init = s->options.precisions_init = NULL;
  s->options.warm_start = NULL;
  s->options.threads = 0;
  /* istate (7): what the BLOB does not hold is the decoder's default. */
  s->options.hc_rows = GMM_DEFAULT_HC_ROWS;
  s->options.criterion = GMM_CRITERION_BIC;
  s->d = d;
  s->weighted = weighted != 0;
  s->sample_size = sample_size;
  s->capacity = sample_size < ISTATE_FIRST_SLOTS ? sample_size : ISTATE_FIRST_SLOTS;
  s->allocator = *a;
  if (alloc_entries(a, (size_t)s->capacity + 1, d, &s->keys, &s->w, &s->x) != GMM_OK) {
    gmm_release(a, s);
    return GMM_ENOMEM;
  }
  *out = s;
  return GMM_OK;
}

void gmm_istate_free(gmm_istate *s) {
  if (!s) return;
  gmm_allocator a = s->allocator;
  gmm_release(&a, s->keys);
  gmm_release(&a, s->w);
  gmm_release(&a, s->x);
  gmm_release(&a, s);
}

/* Moves the entries to arrays of capacity + 1 slots (capacity >= n_held). */
static gmm_status resize(gmm_istate *s, int capacity) {
  uint64_t *keys;
  double *w, *x;
  if (alloc_entries(&s->allocator, (size_t)capacity + 1, s->d, &keys, &w, &x) != GMM_OK)
    return GMM_ENOMEM;
  size_t n = (size_t)s->n_held, dd = (size_t)s->d;
  memcpy(keys, s->keys, n * sizeof *keys);
  memcpy(w, s->w, n * sizeof *w);
  memcpy(x, s->x, n * dd * sizeof *x);
  gmm_release(&s->allocator, s->keys);
  gmm_release(&s->allocator, s->w);
  gmm_release(&s->allocator, s->x);
  s->keys = keys;
  s->w = w;
  s->x = x;
  s->capacity = capacity;
  return GMM_OK;
}

gmm_status gmm_istate_add(gmm_istate *s, const double *x, double w) {
  /* istate (6): an infinite value, a row with every value missing, and
  ** with 'skip' any missing value. */
  int n_missing = 0;
  for (int p = 0; p < s->d; p++) {
    if (isinf(x[p])) return GMM_EINVAL;
    n_missing += isnan(x[p]) != 0;
  }
  if (n_missing == s->d || (n_missing > 0 && s->options.missing != GMM_MISSING_MARGINALIZE))
    return GMM_EINVAL;
  if (s->n_held == s->capacity && s->capacity < s->sample_size) {
    int grown = s->capacity <= s->sample_size / 2 ? 2 * s->capacity : s->sample_size;
    if (resize(s, grown < 1 ? 1 : grown) != GMM_OK) return GMM_ENOMEM;
  }
  size_t dd = (size_t)s->d, tmp = (size_t)s->capacity;
  s->n_rows++;
  s->sum_weights = s->weighted ? s->sum_weights + w : (double)s->n_rows;
  heapify_sample(s);
  /* The candidate goes to the scratch slot first, to be compared there. */
  double *slot = s->x + tmp * dd;
  for (size_t p = 0; p < dd; p++)
    slot[p] = isnan(x[p]) ? missing_value() : x[p] == 0.0 ? 0.0 : x[p];
  s->keys[tmp] = row_key(s->options.seed, slot, s->d);
  s->w[tmp] = s->weighted ? w : 1.0;
  if (s->n_held < s->sample_size) {
    copy_entry(s, (size_t)s->n_held, tmp);
    sift_up(s, (size_t)s->n_held++);
  } else if (compare_entries(s, tmp, 0) < 0) {
    copy_entry(s, 0, tmp);
    sift_down(s, 0, (size_t)s->n_held);
  }
  return GMM_OK;
}

/* istate (3): the first option or shape in which two states differ. */
static gmm_status check_same_spec(const gmm_istate *a, const gmm_istate *b, char *err,
                                  size_t err_len) {
  const gmm_options *x = &a->options, *y = &b->options;
  const char *what = NULL;
  if (x->k != y->k) what = "k";
  else if (a->d != b->d) what = "d";
  else if (x->covariance_type != y->covariance_type) what = "covariance_type";
  else if (x->init != y->init) what = "init";
  else if (x->max_iter != y->max_iter) what = "max_iter";
  else if (x->n_init != y->n_init) what = "n_init";
  else if (value_bits(x->tol) != value_bits(y->tol)) what = "tol";
  else if (value_bits(x->reg_covar) != value_bits(y->reg_covar)) what = "reg_covar";
  else if (x->seed != y->seed) what = "seed";
  else if (x->missing != y->missing) what = "missing";
  else if (a->sample_size != b->sample_size) what = "sample_size";
  else if (a->weighted != b->weighted) what = "weighted";
  if (!what) return GMM_OK;
  return gmm_errorf(err, err_len, GMM_EINVAL,
                    "initialisation states with different %s do not merge: every part must use "
                    "the same spec",
                    what);
}

gmm_status gmm_istate_merge(gmm_istate *dst, gmm_istate *src, char *err, size_t err_len) {
  gmm_status rc = check_same_spec(dst, src, err, err_len);
  if (rc != GMM_OK) return rc;
  if (src->n_rows > INT64_MAX - dst->n_rows || src->n_skipped > INT64_MAX - dst->n_skipped)
    return gmm_errorf(err, err_len, GMM_EINVAL, "the row counts overflow a 64-bit integer");
  double sum_weights = dst->sum_weights + src->sum_weights;
  if (!isfinite(sum_weights))
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "the weights sum to more than the largest double; scale them down");
  sort_sample(dst);
  sort_sample(src);
  size_t m = (size_t)dst->sample_size, dd = (size_t)dst->d;
  size_t i = 0, j = 0, n = 0, na = (size_t)dst->n_held, nb = (size_t)src->n_held;
  size_t slots = na + nb < m ? na + nb : m;
  uint64_t *keys;
  double *w, *x;
  if (alloc_entries(&dst->allocator, slots + 1, dst->d, &keys, &w, &x) != GMM_OK)
    return gmm_errorf(err, err_len, GMM_ENOMEM, "out of memory");
  /* The two ascending samples, merged up to sample_size entries. Entries
  ** of src are compared through dst's scratch slot. */
  size_t scratch = (size_t)dst->capacity;
  while (n < m && (i < na || j < nb)) {
    int take_a = j == nb;
    if (i < na && j < nb) {
      dst->keys[scratch] = src->keys[j];
      dst->w[scratch] = src->w[j];
      memcpy(dst->x + scratch * dd, src->x + j * dd, dd * sizeof(double));
      take_a = compare_entries(dst, i, scratch) <= 0;
    }
    const gmm_istate *from = take_a ? dst : src;
    size_t at = take_a ? i++ : j++;
    keys[n] = from->keys[at];
    w[n] = from->w[at];
    memcpy(x + n * dd, from->x + at * dd, dd * sizeof(double));
    n++;
  }
  gmm_release(&dst->allocator, dst->keys);
  gmm_release(&dst->allocator, dst->w);
  gmm_release(&dst->allocator, dst->x);
  dst->keys = keys;
  dst->w = w;
  dst->x = x;
  dst->capacity = (int)slots;
  dst->n_held = (int)n;
  dst->n_rows += src->n_rows;
  dst->n_skipped += src->n_skipped;
  dst->sum_weights = dst->weighted ? sum_weights : (double)dst->n_rows;
  return GMM_OK;
}

/* ---- the initial model: istate (4) ---- */

gmm_status gmm_istate_start(gmm_istate *s, int threads, const gmm_allocator *a, gmm_model **out,
                            char *err, size_t err_len) {
  *out = NULL;
  sort_sample(s);
  size_t n = (size_t)s->n_held, dd = (size_t)s->d;
  double *x = gmm_alloc_array(a, n, dd * sizeof(double));
  double *w = s->weighted ? gmm_alloc_array(a, n, sizeof(double)) : NULL;
  if (!x || (s->weighted && !w)) {
    gmm_release(a, x);
    gmm_release(a, w);
    return gmm_errorf(err, err_len, GMM_ENOMEM, "out of memory");
  }
  memcpy(x, s->x, n * dd * sizeof(double));
  double sample_weight = 0.0;
  for (size_t i = 0; i < n; i++) sample_weight += s->w[i];
  if (w) memcpy(w, s->w, n * sizeof(double));
  gmm_canonical_order(x, w, n, s->d, threads);
  gmm_data sample = {x, n, s->d, w, 0, NULL};
  gmm_options opt = s->options;
  opt.max_iter = 0;
  opt.threads = threads;
  gmm_model *m = NULL;
  gmm_status rc = gmm_fit(&sample, &opt, a, NULL, NULL, &m, err, err_len);
  gmm_release(a, x);
  gmm_release(a, w);
  if (rc != GMM_OK) return rc;
  m->options.max_iter = s->options.max_iter;
  m->options.threads = 0;
  m->options.missing = s->options.missing;
  gmm_summary *sum = &m->summary;
  sum->n_samples = s->weighted ? s->sum_weights : (double)s->n_rows;
  sum->n_skipped = s->n_skipped;
  sum->log_likelihood *= sum->n_samples / sample_weight;
  sum->log_map = NAN; /* the sample's says nothing of ICL on every row */
  if (sum->n_incomplete > 0 && (int64_t)n < s->n_rows) {
    /* istate (4): the sample's rows with missing features, scaled to
    ** every row and rounded up, at most n_rows. */
    double scaled = ceil((double)sum->n_incomplete * ((double)s->n_rows / (double)n));
    sum->n_incomplete = scaled >= (double)s->n_rows ? s->n_rows
                        : scaled > (double)sum->n_incomplete ? (int64_t)scaled
                                                             : sum->n_incomplete;
  }
  if (!(fabs(sum->log_likelihood) <= GMM_MAX_ABS_LOG_LIKELIHOOD)) {
    gmm_model_free(m);
    return gmm_errorf(err, err_len, GMM_EINVAL,
                      "the log-likelihood is beyond +-%g, where BIC and AIC overflow; scale the "
                      "weights or the data down",
                      GMM_MAX_ABS_LOG_LIKELIHOOD);
  }
  *out = m;
  return GMM_OK;
}

/* ---- the state BLOB: istate (5) ---- */

static size_t istate_len(size_t n_held, size_t d) {
  return ISTATE_HEADER_BYTES + n_held * (16 + 8 * d) + 8;
}

size_t gmm_istate_size(const gmm_istate *s) {
  return istate_len((size_t)s->n_held, (size_t)s->d); /* the same for every version */
}

/* istate (6): whether the sample holds a missing value. */
static int holds_missing(const gmm_istate *s) {
  size_t cells = (size_t)s->n_held * (size_t)s->d;
  for (size_t i = 0; i < cells; i++)
    if (isnan(s->x[i])) return 1;
  return 0;
}

void gmm_istate_write(gmm_istate *s, unsigned char *out) {
  sort_sample(s);
  const gmm_options *o = &s->options;
  size_t dd = (size_t)s->d;
  uint32_t version = (unsigned)o->covariance_type > GMM_COV_SPHERICAL || o->init == GMM_INIT_HC ? 3
                     : o->missing != GMM_MISSING_MARGINALIZE || holds_missing(s)            ? 2
                                                                                             : 1;
  gmm_put_head(out, GMM_ISTATE_MAGIC, version, s->d, o);
  gmm_put_u32(out + 56, (uint32_t)s->sample_size);
  gmm_put_u32(out + 60, s->weighted ? 1u : 0u);
  gmm_put_u64(out + 64, (uint64_t)s->n_rows);
  gmm_put_u64(out + 72, (uint64_t)s->n_skipped);
  gmm_put_f64(out + 80, s->sum_weights);
  gmm_put_u32(out + 88, (uint32_t)s->n_held);
  gmm_put_u32(out + 92, version >= 2 ? (uint32_t)o->missing : 0);
  unsigned char *p = out + ISTATE_HEADER_BYTES;
  for (size_t i = 0; i < (size_t)s->n_held; i++) {
    gmm_put_u64(p, s->keys[i]);
    gmm_put_f64(p + 8, s->w[i]);
    p += 16;
    for (size_t q = 0; q < dd; q++, p += 8) gmm_put_f64(p, s->x[i * dd + q]);
  }
  gmm_put_u64(p, gmm_fnv1a64(out, (size_t)(p - out)));
}

#define CORRUPT(...) gmm_errorf(err, err_len, GMM_ECORRUPT, __VA_ARGS__)

/* The header's options and counts: istate (5), (6). */
static gmm_status read_header(const unsigned char *p, uint32_t version, gmm_options *o, char *err,
                              size_t err_len) {
  uint32_t k = gmm_get_u32(p + 8), cov = gmm_get_u32(p + 16), init = gmm_get_u32(p + 20);
  uint32_t max_iter = gmm_get_u32(p + 24), n_init = gmm_get_u32(p + 28);
  if (cov >= GMM_N_COV_TYPES) return CORRUPT("covariance type %u is unknown", cov);
  if (init > GMM_INIT_HC || init == GMM_INIT_LABELS)
    return CORRUPT("init method %u is unknown", init);
  int v3_only = cov > GMM_COV_SPHERICAL || init == GMM_INIT_HC;
  if (version < 3 && v3_only)
    return CORRUPT("covariance type %u or init method %u is not one of format version %u", cov,
                   init, version);
  if (version == 3 && !v3_only)
    return CORRUPT("format version 3 holds nothing version 2 cannot (scikit-learn's covariance "
                   "type and init)");
  if (k > GMM_MAX_K || max_iter > GMM_MAX_ITER || n_init > GMM_MAX_N_INIT)
    return CORRUPT("k, max_iter or n_init is out of range");
  gmm_options_default(o, (int)k);
  o->covariance_type = (gmm_cov_type)cov;
  o->init = (gmm_init_method)init;
  o->max_iter = (int)max_iter;
  o->n_init = (int)n_init;
  o->tol = gmm_get_f64(p + 32);
  o->reg_covar = gmm_get_f64(p + 40);
  o->seed = gmm_get_u64(p + 48);
  if (version >= 2) o->missing = (gmm_missing)gmm_get_u32(p + 92);
  char why[160];
  if (gmm_options_check(o, (int)gmm_get_u32(p + 12), why, sizeof why) != GMM_OK)
    return CORRUPT("its options are out of range: %s", why);
  return GMM_OK;
}

gmm_status gmm_istate_read(const unsigned char *p, size_t n, const gmm_allocator *a,
                           gmm_istate **out, char *err, size_t err_len) {
  *out = NULL;
  gmm_status rc = gmm_check_preamble(p, n, istate_len(1, 1), GMM_ISTATE_MAGIC,
                                     "initialisation state", ISTATE_NEWEST_VERSION, err, err_len);
  if (rc != GMM_OK) return rc;
  uint32_t version = gmm_get_u32(p + 4);
  uint32_t d = gmm_get_u32(p + 12), sample_size = gmm_get_u32(p + 56), flags = gmm_get_u32(p + 60);
  uint64_t n_rows = gmm_get_u64(p + 64), n_skipped = gmm_get_u64(p + 72);
  uint32_t n_held = gmm_get_u32(p + 88);
  if (d < 1 || d > GMM_MAX_D) return CORRUPT("d = %u is out of range (1 .. %d)", d, GMM_MAX_D);
  if (sample_size < 1 || sample_size > GMM_MAX_SAMPLE_SIZE)
    return CORRUPT("sample_size %u is out of range (1 .. %d)", sample_size, GMM_MAX_SAMPLE_SIZE);
  if (flags > 1) return CORRUPT("unknown flags 0x%x", flags);
  if (n_rows < 1 || n_rows > INT64_MAX || n_skipped > INT64_MAX)
    return CORRUPT("the row counts are out of range");
  if ((uint64_t)n_held != (n_rows < sample_size ? n_rows : sample_size))
    return CORRUPT("it holds %u rows; a sample of %llu rows with sample_size %u holds %llu",
                   n_held, (unsigned long long)n_rows, sample_size,
                   (unsigned long long)(n_rows < sample_size ? n_rows : sample_size));
  uint32_t missing = gmm_get_u32(p + 92);
  if (version == 1 && missing != 0) return CORRUPT("reserved bytes are not zero");
  if (missing > GMM_MISSING_SKIP)
    return CORRUPT("the missing option %u is unknown (0 marginalize, 1 skip)", missing);
  size_t want = istate_len(n_held, d);
  if (n != want)
    return CORRUPT("it has %zu bytes, but its header (%u rows of d = %u) needs %zu", n, n_held, d,
                   want);
  if (gmm_fnv1a64(p, n - 8) != gmm_get_u64(p + n - 8))
    return CORRUPT("the checksum does not match its contents");
  gmm_options opt;
  rc = read_header(p, version, &opt, err, err_len);
  if (rc != GMM_OK) return rc;
  double sum_weights = gmm_get_f64(p + 80);
  int weighted = (int)(flags & 1u);
  if (!isfinite(sum_weights) || !(sum_weights > 0.0) ||
      (!weighted && sum_weights != (double)n_rows))
    return CORRUPT("the sum of weights %g does not fit %llu rows", sum_weights,
                   (unsigned long long)n_rows);

  gmm_istate *s = NULL;
  rc = gmm_istate_new(&opt, (int)d, weighted, (int)sample_size, a, &s);
  if (rc != GMM_OK) return gmm_errorf(err, err_len, GMM_ENOMEM, "out of memory");
  if ((int)n_held > s->capacity && resize(s, (int)n_held) != GMM_OK) {
    gmm_istate_free(s);
    return gmm_errorf(err, err_len, GMM_ENOMEM, "out of memory");
  }
  s->n_rows = (int64_t)n_rows;
  s->n_skipped = (int64_t)n_skipped;
  s->sum_weights = sum_weights;
  s->sorted = 1;
  const unsigned char *q = p + ISTATE_HEADER_BYTES;
  size_t dd = d;
  double held = 0.0;
  /* istate (6): missing values only in version 2 with 'marginalize'. */
  int may_miss = version >= 2 && opt.missing == GMM_MISSING_MARGINALIZE, any_missing = 0;
  for (size_t i = 0; i < n_held; i++) {
    s->keys[i] = gmm_get_u64(q);
    double w = s->w[i] = gmm_get_f64(q + 8);
    q += 16;
    double *x = s->x + i * dd;
    size_t n_missing = 0;
    for (size_t c = 0; c < dd; c++, q += 8) x[c] = gmm_get_f64(q);
    const char *bad = NULL;
    if (!isfinite(w) || !(w > 0.0) || (!weighted && w != 1.0)) bad = "has a bad weight";
    for (size_t c = 0; c < dd && !bad; c++) {
      if (may_miss && value_bits(x[c]) == MISSING_BITS)
        n_missing++;
      else if (version >= 2 && value_bits(x[c]) == MISSING_BITS)
        bad = "has a missing value, but the state's missing option is 'skip'";
      else if (!isfinite(x[c]) || (x[c] == 0.0 && signbit(x[c])))
        bad = "has a value that is not finite or not canonical";
    }
    if (!bad && n_missing == dd) bad = "has every value missing";
    any_missing |= n_missing > 0;
    if (!bad && s->keys[i] != row_key(opt.seed, x, (int)d)) bad = "has a key that is not its hash";
    if (!bad && i > 0 && compare_entries(s, i - 1, i) > 0) bad = "is out of order";
    if (bad) {
      gmm_istate_free(s);
      return CORRUPT("sample row %zu %s", i, bad);
    }
    held += w;
  }
  s->n_held = (int)n_held;
  if (version == 2 && opt.missing == GMM_MISSING_MARGINALIZE && !any_missing) {
    gmm_istate_free(s);
    return CORRUPT("format version 2 holds nothing version 1 cannot (missing 'marginalize', no "
                   "missing value)");
  }
  if (held > sum_weights * (1.0 + 1e-9)) {
    gmm_istate_free(s);
    return CORRUPT("the sample weighs %g, more than every row (%g)", held, sum_weights);
  }
  *out = s;
  return GMM_OK;
}
