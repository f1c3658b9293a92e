/*
** gmm.h -- the numeric core of the gmm extension: Gaussian mixture models
** fitted by expectation-maximisation, their log densities and posteriors,
** and the model BLOB codec.
**
** The core is C11 with GCC/Clang vector extensions (the E+M kernel), libm
** and POSIX threads. It never includes a SQLite header and it never
** allocates except through the gmm_allocator its caller hands in (threads'
** stacks aside), so that SQLite's memory accounting sees every byte and so
** that the core can be tested and fuzzed alone.
**
** Conventions:
**   - data is row-major: row i, feature j is x[i*d + j];
**   - means are k x d row-major, full covariances k x d x d row-major;
**   - functions that can fail return a gmm_status and, where they take an
**     error buffer, write a sentence into it that names the offending value
**     (without a function-name prefix: the caller adds its own).
*/
#ifndef GMM_CORE_H
#define GMM_CORE_H

#include <stddef.h>
#include <stdint.h>

#define GMM_VERSION "0.2.0"

/* Limits. Each is enforced with an error that quotes the provided value and
** the maximum; see README "Limits". */
#define GMM_MAX_K                  1024      /* components */
#define GMM_MAX_D                  1000      /* features */
#define GMM_MAX_ITER               1000000   /* max_iter */
#define GMM_MAX_N_INIT             10000     /* n_init */
#define GMM_MAX_PARAMS             100000000 /* doubles in one model's parameters */
#define GMM_MAX_THREADS            64        /* threads of one fit */
#define GMM_MAX_CANDIDATES         1024      /* (k, covariance type) pairs of one selection */
#define GMM_MAX_ABS_LOG_LIKELIHOOD 1e300     /* so that BIC and AIC stay finite */

typedef enum gmm_status {
  GMM_OK = 0,
  GMM_ENOMEM,      /* an allocation failed */
  GMM_EINVAL,      /* an argument or option is out of range */
  GMM_EFIT,        /* EM cannot produce a sound model from these rows */
  GMM_ECORRUPT,    /* a model BLOB failed validation */
  GMM_EINTERRUPTED /* the trace callback asked the fit to stop */
} gmm_status;

/* The covariance models: scikit-learn's four (0 to 3) and the rest of
** mclust's fourteen (Celeux & Govaert, 1995), Sigma_j = lambda_j D_j A_j D_j'
** with the volume lambda, shape A (diagonal, det 1) and orientation D
** (orthogonal) equal (E) across components, varying (V) or the identity (I).
** scikit-learn's names are mclust's VVV, EEE, VVI and VII. */
typedef enum gmm_cov_type {
  GMM_COV_FULL = 0,      /* VVV: one d x d covariance per component */
  GMM_COV_TIED = 1,      /* EEE: one d x d covariance shared by all components */
  GMM_COV_DIAG = 2,      /* VVI: one diagonal per component */
  GMM_COV_SPHERICAL = 3, /* VII: one variance per component */
  GMM_COV_EII = 4,       /* lambda I */
  GMM_COV_EEI = 5,       /* lambda A */
  GMM_COV_VEI = 6,       /* lambda_j A (iterative M-step) */
  GMM_COV_EVI = 7,       /* lambda A_j */
  GMM_COV_VEE = 8,       /* lambda_j D A D' (iterative) */
  GMM_COV_EVE = 9,       /* lambda D A_j D' (iterative, MM) */
  GMM_COV_VVE = 10,      /* lambda_j D A_j D' (iterative, MM) */
  GMM_COV_EEV = 11,      /* lambda D_j A D_j' */
  GMM_COV_VEV = 12,      /* lambda_j D_j A D_j' (iterative) */
  GMM_COV_EVV = 13       /* lambda D_j A_j D_j' */
} gmm_cov_type;
#define GMM_N_COV_TYPES 14

/* The shape a model of type t stores its covariances in, and scores with:
** spherical (k variances) for EII and VII, diag (k x d) for EEI, VEI, EVI
** and VVI, tied (d x d) for EEE, full (k x d x d) for the other seven. The
** stored covariances are the fitted Sigma_j; the type says which
** constraints they satisfy (and so the parameter count). */
gmm_cov_type gmm_cov_shape(gmm_cov_type t);

/* Which criterion a selection minimises (this project's sign: lower is
** better). */
typedef enum gmm_criterion {
  GMM_CRITERION_BIC = 0, /* -2 LL + p ln n */
  GMM_CRITERION_ICL = 1, /* BIC - 2 sum_i w_i ln max_j p(j | x_i) (Biernacki et al., 2000) */
  GMM_CRITERION_AIC = 2  /* -2 LL + 2 p */
} gmm_criterion;

/* What a fit does with a row whose features are partly unknown (NaN in the
** core, NULL in SQL). */
typedef enum gmm_missing {
  GMM_MISSING_MARGINALIZE = 0, /* EM over the observed features (Ghahramani &
                                  Jordan, 1994): marginal densities in the
                                  E-step, conditional moments in the M-step */
  GMM_MISSING_SKIP = 1         /* only complete rows: the caller drops the
                                  others, and a NaN reaching the fit is an
                                  error */
} gmm_missing;

typedef enum gmm_init_method {
  GMM_INIT_KMEANS = 0,          /* k-means++ seeding, then Lloyd iterations */
  GMM_INIT_KMEANS_PP = 1,       /* k-means++ seeding only */
  GMM_INIT_RANDOM = 2,          /* random normalised responsibilities */
  GMM_INIT_RANDOM_FROM_DATA = 3, /* k distinct rows drawn at random */
  GMM_INIT_LABELS = 4,          /* hard responsibilities from gmm_data.labels */
  GMM_INIT_HC = 5               /* mclust's model-based agglomerative clustering
                                   (VVV, SVD-transformed rows) cut at k */
} gmm_init_method;

/* The prior of a fit. None is maximum likelihood EM. The two variational
** priors are scikit-learn's BayesianGaussianMixture (Bishop, 2006, ch.
** 10.2; Blei & Jordan, 2006): a Dirichlet distribution or a truncated
** Dirichlet process (stick-breaking, Beta(1, alpha0)) on the weights and a
** normal-Wishart prior on each component's mean and precision; the model
** is then the variational posterior, and its E-step and predictions use
** expected log weights and precisions. The conjugate prior is mclust's
** priorControl() (Fraley & Raftery, 2007): EM for the maximum a
** posteriori means and covariances under a normal-inverse-Wishart prior,
** predictions as maximum likelihood's. */
typedef enum gmm_prior {
  GMM_PRIOR_NONE = 0,
  GMM_PRIOR_DIRICHLET_PROCESS = 1,
  GMM_PRIOR_DIRICHLET_DISTRIBUTION = 2,
  GMM_PRIOR_CONJUGATE = 3
} gmm_prior;
#define GMM_N_PRIORS 4

/* Whether prior p is one of the two variational ones. */
static inline int gmm_prior_variational(gmm_prior p) {
  return p == GMM_PRIOR_DIRICHLET_PROCESS || p == GMM_PRIOR_DIRICHLET_DISTRIBUTION;
}

/* A component of a variational model is effective when its share of the
** rows, N_j / n (N_j the expected count of rows in it, n the rows used:
** sums of weights when weighted), exceeds 1 / (GMM_EFFECTIVE_DIVISOR k):
** the others are the ones the prior switched off. (The posterior mean
** weight would not do: an empty component keeps about 1 / (1 + the rows
** after it) under a Dirichlet process, alpha0 / (n + k alpha0) under a
** Dirichlet distribution.) */
#define GMM_EFFECTIVE_DIVISOR 100.0

#define GMM_DEFAULT_HC_ROWS 2000   /* rows the hierarchical start runs on, at most */
#define GMM_MAX_HC_ROWS     20000  /* its memory is quadratic: 1.6 GB of merge costs */

/* Every allocation of the core goes through this. alloc returns NULL on
** failure; release accepts NULL. ctx is passed back unchanged. */
typedef struct gmm_allocator {
  void *(*alloc)(void *ctx, size_t n_bytes);
  void (*release)(void *ctx, void *p);
  void *ctx;
} gmm_allocator;

/* The allocator over malloc/free, for tests and tools outside SQLite. */
extern const gmm_allocator gmm_libc_allocator;

typedef struct gmm_options {
  int k;
  gmm_cov_type covariance_type;
  int max_iter;     /* EM iterations per initialisation, >= 0 */
  double tol;       /* convergence: |change of mean per-row log-likelihood| < tol */
  double reg_covar; /* added to every covariance diagonal, >= 0 */
  int n_init;       /* initialisations; the best final log-likelihood wins */
  gmm_init_method init;
  uint64_t seed;
  /* Optional explicit initial parameters (NULL: from the init method), in
  ** scikit-learn's meaning and shapes: weights k, means k x d, precisions
  ** (inverse covariances) k x d x d for full, d x d for tied, k x d for
  ** diag, k for spherical. When all three are given no other
  ** initialisation runs. Not stored in the model. */
  const double *weights_init;
  const double *means_init;
  const double *precisions_init;
  /* Optional warm start: EM starts from this model's weights, means and
  ** covariances (its k, d and covariance type must match); n_init is then
  ** 1 and no other initialisation runs. */
  const struct gmm_model *warm_start;
  /* Threads of the EM passes: 0 every online core, else at most
  ** GMM_MAX_THREADS. The model does not depend on it. */
  int threads;
  gmm_missing missing; /* default GMM_MISSING_MARGINALIZE */
  /* init hc: the tree is built on at most hc_rows rows (a seeded sample of
  ** them when there are more), in 2 .. GMM_MAX_HC_ROWS. */
  int hc_rows;
  gmm_criterion criterion; /* of gmm_fit_select */
  /* The prior (GMM_PRIOR_NONE: maximum likelihood) and its parameters in
  ** scikit-learn's names; NAN or NULL asks for the default, which the fit
  ** computes from the rows and the model stores:
  **   weight_concentration_prior alpha0 > 0 (variational only): 1 / k;
  **   mean_precision_prior beta0 > 0: 1 (conjugate: mclust's shrinkage 0.01);
  **   mean_prior (d values): the column means;
  **   degrees_of_freedom_prior nu0 > d - 1: d (conjugate: d + 2);
  **   covariance_prior, shaped as one component's covariance of the
  **     storage shape (d x d for full and tied, d for diag, 1 for
  **     spherical): variational, the rows' covariance (n - 1 divisor;
  **     diag its diagonal, spherical their mean); conjugate, mclust's
  **     var / k^(2/d) (diag and spherical: the mean variance / k^(2/d)).
  ** The conjugate prior takes the covariance types full, tied, diag,
  ** spherical, EII and EEI; the variational ones scikit-learn's four. */
  gmm_prior prior;
  double weight_concentration_prior;
  double mean_precision_prior;
  double degrees_of_freedom_prior;
  const double *mean_prior;
  const double *covariance_prior;
  /* Variational priors: after the fit, drop the components that are not
  ** effective and continue EM on the others (to convergence, at most
  ** max_iter more iterations), the prior's parameters unchanged. */
  int prune;
} gmm_options;

/* scikit-learn's defaults: full, max_iter 100, tol 1e-3, reg_covar 1e-6,
** n_init 1, init kmeans, seed 0, no explicit initial parameters; missing
** features marginalised; hc_rows GMM_DEFAULT_HC_ROWS; criterion BIC; no
** prior (its parameters NAN and NULL), no pruning. */
void gmm_options_default(gmm_options *opt, int k);

/* Checks every option against its range for data of dimension d (d = 0
** skips the checks that need it). Returns GMM_EINVAL with a message naming
** the option and the value. */
gmm_status gmm_options_check(const gmm_options *opt, int d, char *err, size_t err_len);

const char *gmm_cov_type_name(gmm_cov_type t);
const char *gmm_init_name(gmm_init_method m);
const char *gmm_missing_name(gmm_missing m);
const char *gmm_criterion_name(gmm_criterion c);
/* "none", "dirichlet_process", "dirichlet_distribution", "conjugate". */
const char *gmm_prior_name(gmm_prior p);
int gmm_prior_from_name(const char *name);
/* mclust's three-letter name of any type ("VVV" for full). gmm_cov_type_name
** gives scikit-learn's name for the four it has, mclust's for the others. */
const char *gmm_cov_model_name(gmm_cov_type t);
/* Name to enum; return -1 when the name is unknown. Covariance types take
** scikit-learn's four names and mclust's fourteen (upper case). */
int gmm_cov_type_from_name(const char *name);
int gmm_criterion_from_name(const char *name);
int gmm_init_from_name(const char *name);
int gmm_missing_from_name(const char *name);

/* One candidate of a model selection (gmm_fit_select). */
typedef struct gmm_candidate {
  int k;
  gmm_cov_type covariance_type;
  int failed; /* 1 when EM could not fit it (then the numbers are 0) */
  int converged;
  int n_iter;
  double log_likelihood; /* total, under its final parameters */
  double bic;
  double icl;
  double aic;
} gmm_candidate;

/* What happened during the fit that produced a model. */
typedef struct gmm_summary {
  double n_samples;      /* rows used (sum of weights when weighted) */
  int64_t n_skipped;     /* rows skipped by the caller (NULL features) */
  double log_likelihood; /* total log-likelihood of the rows under the final parameters */
  int n_iter;            /* EM iterations of the winning initialisation */
  int converged;         /* 1 when the winning initialisation met tol */
  int best_init;         /* 0-based index of the winning initialisation */
  int n_empty;           /* components whose responsibility mass fell below
                            one row's worth of 1e-10 at the last M-step */
  int weighted;          /* 1 when the rows carried weights */
  int warm_started;      /* 1 when EM started from another model */
  int64_t n_incomplete;  /* rows used that had some feature missing */
  double missing_fraction; /* missing cells / (rows used x d), unweighted */
  /* sum over the rows of w_i ln max_j p(j | x_i) under the final parameters
  ** (<= 0), for ICL; NAN when unknown (a model from passes). */
  double log_map;
  /* Variational priors: scikit-learn's lower_bound_, the evidence lower
  ** bound (less the terms constant for a configuration) of the last
  ** iteration of the winning initialisation; NAN otherwise. */
  double lower_bound;
  int n_pruned; /* components the prune option dropped */
} gmm_summary;

/* A fitted (or decoded) model. One allocation owns every array. */
typedef struct gmm_model {
  int k, d;
  gmm_cov_type covariance_type;
  double *weights;     /* k, non-negative, sum 1 */
  double *means;       /* k x d */
  double *covariances; /* scikit-learn's shapes: full k x d x d, tied d x d
                          (symmetric positive definite), diag k x d,
                          spherical k (positive) */
  /* Derived by gmm_model_prepare, never serialised: */
  double *prec_chol;   /* full, tied: W = inverse of the lower Cholesky factor
                          of the covariance (lower triangular), so that
                          (x-mu)' S^-1 (x-mu) = |W (x-mu)|^2; diag,
                          spherical: 1/sqrt(variance). Shaped as covariances. */
  double *log_norm;    /* k: log w_j - d/2 log(2 pi) + log det W_j; for a
                          variational model E[log w_j] - d/2 log(2 pi) +
                          log det W_j - d/2 log nu_j + (d log 2 +
                          sum_i digamma((nu_j - i) / 2) - d / beta_j) / 2 */
  /* Priors (options.prior not none): the prior used, with the scalars in
  ** options, and for the variational priors the posterior. weights, means
  ** and covariances are then scikit-learn's weights_ (the posterior mean
  ** weights), means_ (m_j) and covariances_ (the inverse of E[precision],
  ** W_j^-1 / nu_j). NULL when unused. */
  double *mean_prior;           /* d */
  double *covariance_prior;     /* gmm_cov_len(1, d, type) */
  double *weight_concentration; /* Dirichlet distribution: k alphas; process: k
                                   first then k second Beta parameters */
  double *mean_precision;       /* k: beta_j */
  double *degrees_of_freedom;   /* k nu_j, 1 for tied */
  gmm_options options; /* the options of the fit (pointers NULL) */
  gmm_summary summary;
  gmm_candidate *candidates; /* n_candidates, when the model won a selection */
  int n_candidates;
  int blob_version; /* the format version it was decoded from; 0 if never encoded */
  gmm_allocator allocator;
} gmm_model;

/* Doubles in a covariance-shaped array of type t. */
size_t gmm_cov_len(int k, int d, gmm_cov_type t);

/* Allocates a model with uninitialised parameters. Returns NULL when memory
** is short or the sizes overflow. */
gmm_model *gmm_model_new(int k, int d, gmm_cov_type t, const gmm_allocator *a);
/* The same with the arrays of prior p (options.prior is set to p). */
gmm_model *gmm_model_new_prior(int k, int d, gmm_cov_type t, gmm_prior p,
                               const gmm_allocator *a);
/* Doubles of the weight concentrations of a variational model: k or 2k. */
size_t gmm_concentration_len(int k, gmm_prior p);
/* Whether component j is effective (GMM_EFFECTIVE_DIVISOR); every
** component of a model without a variational prior is. */
int gmm_model_effective(const gmm_model *m, int j);
int gmm_model_n_effective(const gmm_model *m);
void gmm_model_free(gmm_model *m);
/* Gives m a copy of n candidates; GMM_ENOMEM when memory is short. */
gmm_status gmm_model_set_candidates(gmm_model *m, const gmm_candidate *c, int n);

/* Computes prec_chol and log_norm from weights (a variational model: the
** weight concentrations, mean precisions and degrees of freedom) and
** covariances. Returns
** GMM_EFIT (with the component in err) when a covariance is not positive
** definite. */
gmm_status gmm_model_prepare(gmm_model *m, char *err, size_t err_len);

/* Number of free parameters (scikit-learn's _n_parameters). */
double gmm_model_n_parameters(const gmm_model *m);
/* The same for any k, d and type (mclust's nMclustParams). */
double gmm_n_parameters(int k, int d, gmm_cov_type t);
/* -2 LL + p ln n and -2 LL + 2p on the training rows; lower is better.
** For a variational model LL is the rows' sum of scores (expected log
** weights and precisions), so these compare such models only loosely. */
double gmm_model_bic(const gmm_model *m);
double gmm_model_aic(const gmm_model *m);
/* BIC - 2 summary.log_map (mclust's ICL, sign flipped); NAN when log_map is. */
double gmm_model_icl(const gmm_model *m);
/* The criterion c of m. */
double gmm_model_criterion(const gmm_model *m, gmm_criterion c);

/* Doubles of scratch the per-row functions below need. */
size_t gmm_model_scratch_len(const gmm_model *m);

/* The per-row functions below take a row of d values in which NaN marks a
** missing feature: they then use the marginal mixture of the observed
** features (the sub-vectors of the means and sub-matrices of the
** covariances). A row with every feature missing gets the prior: log
** density 0, posteriors the weights. */

/* Log density log p(x) of one row under a prepared model. When post is not
** NULL it receives the k posteriors p(j | x); when label is not NULL it
** receives the most probable component (the lowest index on ties). */
double gmm_model_score_row(const gmm_model *m, const double *x, double *scratch, double *post,
                           int *label);
/* The most probable component of one row, as gmm_model_score_row's label
** (the lowest index on ties; 0 when every density underflows), without
** the exp and log the posteriors need. */
int gmm_model_predict_row(const gmm_model *m, const double *x, double *scratch);
/* Replaces each missing value of x (d doubles) by its conditional mean
** under the mixture, E[x_m | x_o] = sum_j p(j | x_o) (mu_jm + S_jmo S_joo^-1
** (x_o - mu_jo)); the observed values are left as they are. A row with
** every value missing gets the mixture mean. */
void gmm_model_impute_row(const gmm_model *m, double *x, double *scratch);
/* Replaces each missing value of x by a draw from p(x_m | x_o): a component
** j with probability p(j | x_o), then x_m from the conditional normal of
** component j. The draw depends only on (seed, stream) and the row. */
void gmm_model_draw_missing_row(const gmm_model *m, double *x, uint64_t seed, uint64_t stream,
                                double *scratch);

/* A row set handed to the fit. w is NULL or n non-negative row weights.
** With options.missing marginalize a NaN value is a missing feature (rows
** with every value missing are left out and counted in n_skipped); any
** other non-finite value is an error. The fit takes rows in any order, but
** it works in place (no copy of the rows) when every complete row comes
** before every row with a missing value and those rows are grouped by
** their pattern of missing features, as gmm_canonical_order leaves them. */
typedef struct gmm_data {
  const double *x;
  size_t n;
  int d;
  const double *w;
  int64_t n_skipped; /* carried into the summary */
  const int *labels; /* init labels: n labels in 0 .. k - 1; else NULL */
} gmm_data;

/* Called after every EM iteration (may be NULL): init is the 0-based
** initialisation, iter the 1-based iteration, lower_bound the mean per-row
** log-likelihood under the parameters that iteration started from (with a
** variational prior: the total lower bound after the iteration, as
** scikit-learn's). A non-zero return stops the fit, which then returns
** GMM_EINTERRUPTED. */
typedef int (*gmm_trace_fn)(void *ctx, int init, int iter, double lower_bound);

/* Sufficient statistics of responsibilities r_ij over rows x_i, taken
** around a per-component shift c_j (a_ij = x_i - c_j):
**   nk[j] = sum_i r_ij,  s1[j] = sum_i r_ij a_ij,
**   s2[j] = sum_i r_ij a_ij a_ij' (lower triangle, d x d). */
typedef struct gmm_stats {
  int k, d;
  int diag_only; /* s2 keeps only the diagonals, k x d (diag, spherical) */
  double *nk;    /* k */
  double *s1;    /* k x d */
  double *s2;    /* k x d x d, or k x d when diag_only */
} gmm_stats;

/* Fits a mixture to the rows. On GMM_OK *out owns a prepared model. */
gmm_status gmm_fit(const gmm_data *data, const gmm_options *opt, const gmm_allocator *a,
                   gmm_trace_fn trace, void *trace_ctx, gmm_model **out, char *err, size_t err_len);

/* Model selection: fits every (k, covariance type) pair of the lists on
** the same rows with the other options of opt, and returns the candidate
** with the lowest opt->criterion (the first on ties), carrying the list of all
** candidates. Candidates that cannot be fitted are recorded as failed; the
** call fails only when all do. Explicit initial parameters and warm starts
** do not combine with selection. */
gmm_status gmm_fit_select(const gmm_data *data, const gmm_options *opt, const int *ks, int n_k,
                          const gmm_cov_type *types, int n_types, const gmm_allocator *a,
                          gmm_trace_fn trace, void *trace_ctx, gmm_model **out, char *err,
                          size_t err_len);

/* Sorts the rows (and their weights, when w is not NULL) into a canonical
** order, lexicographic on the features then the weight, so that a fit of
** the same set of rows does not depend on the order they came in. -0.0 is
** made +0.0 first. When some value is NaN (a missing feature; every NaN is
** first made the one quiet NaN), rows are ordered by their pattern of
** missing features first: complete rows, then each pattern's rows
** together. In place, no allocation; on up to `threads` threads (0: every
** core, as gmm_options.threads), with the same result for any count. */
void gmm_canonical_order(double *x, double *w, size_t n, int d, int threads);

/* ---- Sampling (gmm_sample.c) ---- */

typedef struct gmm_sampler gmm_sampler;
/* A sampler of m (it copies what it needs) seeded with seed: the same seed
** gives the same sequence of draws. */
gmm_status gmm_sampler_new(const gmm_model *m, uint64_t seed, const gmm_allocator *a,
                           gmm_sampler **out);
/* Draws one row: a component j with probability weights[j], then x from
** N(means[j], covariance j). Writes d doubles to x. */
void gmm_sampler_draw(gmm_sampler *s, double *x, int *component);
void gmm_sampler_free(gmm_sampler *s);

/* ---- Model BLOB codec (gmm_blob.c) ---- */

#define GMM_BLOB_MAGIC   "GMMb"
#define GMM_BLOB_VERSION 5 /* the newest read; the oldest that holds a model is written */

/* Exact encoded size, or 0 when it would overflow. */
size_t gmm_blob_size(const gmm_model *m);
/* Writes exactly gmm_blob_size(m) bytes. */
void gmm_blob_write(const gmm_model *m, unsigned char *out);
/* Validates every byte and decodes into a prepared model. */
gmm_status gmm_blob_read(const unsigned char *p, size_t n, const gmm_allocator *a, gmm_model **out,
                         char *err, size_t err_len);
/* The checksum stored in the last 8 bytes of a BLOB of at least 8 bytes,
** for cache keys; it does not validate anything. */
uint64_t gmm_blob_stored_checksum(const unsigned char *p, size_t n);

/* ---- Statistics of one E-step, and passes (gmm_stats.c) ----
** EM as values: the statistics of one E-step of a model over some rows,
** which add up over any split of the rows, and the M-step that turns their
** sum into the next model. gmm_fit's own iterations run the same E-step
** pass and M-step. */

/* Rows a batch of gmm_estep_add holds at most (16 chunks, one per block
** of a pass), and the bytes of rows it aims at (fewer rows for large d). */
#define GMM_BATCH_ROWS  (16 * 1024)
#define GMM_BATCH_BYTES ((size_t)4 << 20)

/* The statistics of one E-step of one model over some rows. */
typedef struct gmm_estats {
  int k, d;
  gmm_cov_type covariance_type;
  int weighted;          /* the rows carried weights */
  uint64_t fingerprint;  /* of the model's BLOB (its stored checksum) */
  int64_t n_rows;        /* rows used (positive weight) */
  int64_t n_skipped;     /* rows skipped by the caller (NULL features) */
  int64_t n_incomplete;  /* rows used that had some feature missing */
  int64_t n_missing;     /* missing cells of the rows used */
  double sum_weights;    /* = n_rows when not weighted */
  double log_likelihood; /* total (weighted) log-likelihood under the model */
  gmm_stats sums;        /* around the model's means */
  gmm_allocator allocator;
} gmm_estats;

/* Empty statistics for model m (shape and fingerprint). */
gmm_status gmm_estats_new(const gmm_model *m, uint64_t fingerprint, int weighted,
                          const gmm_allocator *a, gmm_estats **out);
void gmm_estats_free(gmm_estats *s);
/* dst += src. GMM_EINVAL, naming what differs, when they are statistics
** of another model, shape or kind of rows. */
gmm_status gmm_estats_merge(gmm_estats *dst, const gmm_estats *src, char *err, size_t err_len);

/* The E-step of one model over batches of rows, on threads. */
typedef struct gmm_estep_acc gmm_estep_acc;
/* The rows of one batch for d features: GMM_BATCH_BYTES of them, whole
** chunks, at least one chunk and at most GMM_BATCH_ROWS. */
size_t gmm_estep_batch_rows(int d);
/* threads as gmm_options.threads; the result does not depend on it. m must
** outlive the accumulator. */
gmm_status gmm_estep_acc_new(const gmm_model *m, int threads, const gmm_allocator *a,
                             gmm_estep_acc **out);
/* Adds the E-step over rows x (n <= gmm_estep_batch_rows(d) rows of d finite values;
** w NULL or n finite weights > 0) to st, which must be of the
** accumulator's model. The same batches in the same order give the same
** bits. */
void gmm_estep_add(gmm_estep_acc *acc, const double *x, const double *w, size_t n, gmm_estats *st);
void gmm_estep_acc_free(gmm_estep_acc *acc);

/* The next model from statistics of m (fingerprint: m's BLOB checksum):
** the M-step of fit (5) on the rows' sums, weights scaled as in fit (10);
** n_iter one more than m's (at most max_iter); log_likelihood the rows'
** under m, as scikit-learn's lower_bound_; converged when m has n_iter >=
** 1 and the mean log-likelihood changed by less than tol from m's. On
** GMM_OK *out owns a prepared model. */
gmm_status gmm_mstep(const gmm_model *m, uint64_t fingerprint, const gmm_estats *st,
                     const gmm_allocator *a, gmm_model **out, char *err, size_t err_len);

#define GMM_STATS_MAGIC   "GMMs"
#define GMM_STATS_VERSION 3 /* the newest read; the oldest that holds them is written */

/* Exact encoded size, or 0 when the shape is out of range. */
size_t gmm_estats_size(const gmm_estats *s);
void gmm_estats_write(const gmm_estats *s, unsigned char *out);
/* The decoder's checks of the counts and sums (GMM_ECORRUPT, saying what
** fails): what the binding checks before it encodes statistics. */
gmm_status gmm_estats_check(const gmm_estats *s, char *err, size_t err_len);
/* Validates every byte (the BLOB may come from an untrusted shard). */
gmm_status gmm_estats_read(const unsigned char *p, size_t n, const gmm_allocator *a,
                           gmm_estats **out, char *err, size_t err_len);

/* ---- Initialisation in one pass (gmm_istate.c) ----
** A bounded sample of the rows: the sample_size rows whose seeded hash of
** their values is smallest. It does not depend on the order or the split
** of the rows, and two samples merge into the sample of the union. */

#define GMM_DEFAULT_SAMPLE_SIZE 10000
#define GMM_MAX_SAMPLE_SIZE     1000000

typedef struct gmm_istate {
  gmm_options options; /* of the passes: k, covariance_type, init, max_iter,
                          n_init, tol, reg_covar, seed */
  int d;
  int weighted;
  int sample_size;
  int64_t n_rows, n_skipped;
  double sum_weights;
  int n_held;     /* min(sample_size, n_rows) once complete */
  int capacity;   /* entries the arrays hold (plus one scratch slot) */
  int sorted;     /* entries in ascending order (else a max-heap) */
  uint64_t *keys; /* capacity + 1 each: hash, weight, d values */
  double *w;
  double *x;
  gmm_allocator allocator;
} gmm_istate;

gmm_status gmm_istate_new(const gmm_options *opt, int d, int weighted, int sample_size,
                          const gmm_allocator *a, gmm_istate **out);
void gmm_istate_free(gmm_istate *s);
/* Adds one row of d finite values and weight w > 0 (1 when unweighted).
** GMM_ENOMEM when the sample could not grow (s is unchanged). */
gmm_status gmm_istate_add(gmm_istate *s, const double *x, double w);
/* dst = the sample of both; GMM_EINVAL naming what differs when their
** options or shapes differ. */
gmm_status gmm_istate_merge(gmm_istate *dst, gmm_istate *src, char *err, size_t err_len);
/* The initial model: the init method (n_init times, the best
** log-likelihood on the sample winning) run on the sample as gmm_fit runs
** it on its rows, with no EM iteration. n_samples and n_skipped are the
** state's; log_likelihood is the sample's, scaled to the weight of every
** row. */
gmm_status gmm_istate_start(gmm_istate *s, int threads, const gmm_allocator *a, gmm_model **out,
                            char *err, size_t err_len);

#define GMM_ISTATE_MAGIC   "GMMi"
#define GMM_ISTATE_VERSION 3 /* the newest read; the oldest that holds it is written */

size_t gmm_istate_size(const gmm_istate *s);
/* Sorts s first when needed. */
void gmm_istate_write(gmm_istate *s, unsigned char *out);
gmm_status gmm_istate_read(const unsigned char *p, size_t n, const gmm_allocator *a,
                           gmm_istate **out, char *err, size_t err_len);

#endif /* GMM_CORE_H */
