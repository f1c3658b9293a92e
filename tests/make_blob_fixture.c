/*
** make_blob_fixture.c -- writes tests/fixtures/model_vN.bin, the fixture
** BLOB of model format version N (2 to 5; ext/core/gmm_blob.c) that
** tests/test_blob.c must keep reading forever (DESIGN.md section 3: "An old format version stays readable
** forever: keep one fixture BLOB per version in tests/").
**
**   NEVER REGENERATE A COMMITTED FIXTURE. Its bytes are the contract: if the
**   current code cannot read them, the code is wrong, not the fixture. When
**   the format changes, bump its version, add a new fixture
**   (model_v2.bin, model_v3.bin, ...) with a new generator run and a new test, and keep
**   every old fixture and its test unchanged.
**
** The program refuses to overwrite an existing file (fopen mode "wbx").
**
** Build and run once, from the repository root:
**   cc -std=c11 -O2 -Iext/core tests/make_blob_fixture.c ext/core/[a-z]*.c \
**      -lm -lpthread -o /tmp/make_blob_fixture
**   mkdir -p tests/fixtures && /tmp/make_blob_fixture tests/fixtures/model_v2.bin
**   /tmp/make_blob_fixture --v3 tests/fixtures/model_v3.bin
**   /tmp/make_blob_fixture --v4 tests/fixtures/model_v4.bin
**   /tmp/make_blob_fixture --v5 tests/fixtures/model_v5.bin
**
** It prints the values to hard-code in tests/test_blob.c (between
** FIXTURE_VALUES_BEGIN and FIXTURE_VALUES_END).
**
** The models, on the 12 fixed rows below (two groups of 5 and 7 rows), with
** n_skipped 3:
**   model_v1.bin (written by the version-1 encoder, kept as it was): k=2,
**     d=2, full covariance, default options (seed 0);
**   model_v2.bin (this program): a selection over k in {1, 2} and
**     covariance types {tied, diag}, rows weighted 1, 2, 1, 2, ..., so that
**     the file holds what version 2 added: other covariance types, the
**     weighted flag and the candidates.
**   model_v3.bin (this program, --v3): what version 3 added, the missing
**     option and the counts of missing values: a model built by hand
**     (written before the core fitted rows with missing features; the
**     parameters are round numbers near the two groups, extended to d = 3)
**     of k = 2, d = 3, full covariances, missing 'marginalize', 20 rows
**     used of which 6 had a missing feature (7 missing cells of 60:
**     missing_fraction 7/60), 2 skipped, every option and summary field
**     away from its default, and two candidates (k 1 and 2, full), so that
**     the candidates sit behind the longer header.
**   model_v4.bin (this program, --v4): what version 4 added (issue 12):
**     a selection over k in {1, 2} and mclust's covariance models EVE and
**     VEV (iterative M-steps) by ICL, on the 12 rows and 4 rows between
**     the groups (BETWEEN), with init 'labels' (the rows' groups, 0 for
**     group A and 1 for group B, the 4 rows between alternately: the two
**     k = 1 candidates cannot take label 1, so they are failed candidates,
**     stored with ICL 0), hc_rows 500, missing 'skip' (the word at 100 is
**     1), rows weighted 1, 2, 1, 2, ..., so that the file holds a
**     covariance type above 3, init 4, hc_rows and criterion away from
**     their defaults, a known log_map (below 0) and 40-byte candidates
**     with their ICL.
**   model_v5.bin (this program, --v5): what version 5 added (issue 13),
**     a prior: scikit-learn's BayesianGaussianMixture with a Dirichlet
**     process prior on the 12 rows and the 4 rows between the groups,
**     k = 6, full covariances, weight_concentration_prior 0.125 (the
**     other parameters of the prior the defaults the fit computes: mean
**     precision 1, degrees of freedom d, the rows' mean and covariance),
**     prune on (2 components pruned, 4 left), max_iter 300, tol 1e-6,
**     n_skipped 3, so that the file
**     holds the prior's header (prior 1, prune, n_pruned, the three
**     scalars, lower_bound) and its arrays: the mean prior, the
**     covariance prior as a lower triangle, 2k concentrations, k mean
**     precisions and k degrees of freedom.
**
** A fit of this build knows its log_map (ICL), which only version 4
** holds: the version 2 model is written with log_map unknown (NAN), as
** the build that wrote model_v2.bin had it. (Fits of later builds may
** differ from that build's in the last bits, so running this again need
** not give the committed bytes: one more reason never to regenerate.)
*/
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gmm.h"

static const double ROWS[12][2] = {
    {1.0, 2.0}, {1.5, 1.8}, {0.8, 2.4}, {1.2, 2.2}, {0.9, 1.7},             /* group A */
    {6.0, 7.5}, {6.4, 7.1}, {5.8, 8.0}, {6.9, 7.7}, {6.2, 6.8}, {5.5, 7.3}, /* group B */
    {6.6, 8.2}};

static const double SCORE_ROW[2] = {2.0, 2.5};

/* model_v4.bin's rows: the 12 above and 4 between the groups (labelled
** alternately A and B), so that the posteriors are not all 0 or 1 and
** log_map is below 0. */
static const double BETWEEN[4][2] = {{3.2, 4.4}, {3.8, 5.0}, {2.9, 4.9}, {4.1, 4.5}};

static int write_new_file(const char *path, const unsigned char *p, size_t n) {
  FILE *f = fopen(path, "wbx");
  if (!f) {
    fprintf(stderr, "%s: cannot create (it exists? fixtures are never regenerated)\n", path);
    return 1;
  }
  if (fwrite(p, 1, n, f) != n || fclose(f) != 0) {
    fprintf(stderr, "%s: write failed\n", path);
    return 1;
  }
  return 0;
}

/* model_v3.bin: the hand-built model described above. */
static int write_v3(const char *path) {
  static const double weights[2] = {0.375, 0.625};
  static const double means[6] = {1.125, 2.0, 0.5, 6.25, 7.5, 3.0};
  static const double covs[18] = {0.0625, 0.015625, 0.0078125, /* */
                                  0.015625, 0.09375, -0.01171875, /* */
                                  0.0078125, -0.01171875, 0.046875, /* */
                                  0.25, 0.125, 0.0625, /* */
                                  0.125, 0.3125, 0.03125, /* */
                                  0.0625, 0.03125, 0.1875};
  static const double row[3] = {2.0, 2.5, 1.0};
  gmm_model *m = gmm_model_new(2, 3, GMM_COV_FULL, &gmm_libc_allocator);
  if (!m) return 1;
  memcpy(m->weights, weights, sizeof weights);
  memcpy(m->means, means, sizeof means);
  memcpy(m->covariances, covs, sizeof covs);
  char err[256] = "";
  if (gmm_model_prepare(m, err, sizeof err) != GMM_OK) {
    fprintf(stderr, "gmm_model_prepare: %s\n", err);
    return 1;
  }
  gmm_options_default(&m->options, 2);
  m->options.init = GMM_INIT_RANDOM_FROM_DATA;
  m->options.max_iter = 200;
  m->options.n_init = 2;
  m->options.tol = 1e-6;
  m->options.reg_covar = 1e-5;
  m->options.seed = UINT64_C(1099511627779); /* 2^40 + 3 */
  m->options.missing = GMM_MISSING_MARGINALIZE;
  m->summary.n_samples = 20.0;
  m->summary.n_skipped = 2;
  m->summary.log_likelihood = -87.25;
  m->summary.n_iter = 17;
  m->summary.converged = 1;
  m->summary.best_init = 1;
  m->summary.n_empty = 0;
  m->summary.n_incomplete = 6;
  m->summary.missing_fraction = 7.0 / 60.0;
  /* BIC as a selection computes it: p ln n - 2 LL, p = 9 for k = 1. */
  /* (Version 3 has no candidate ICL: NAN, unknown.) */
  const gmm_candidate cand[2] = {
      {1, GMM_COV_FULL, 0, 1, 9, -105.5, 9.0 * log(20.0) + 211.0, NAN, 0.0},
      {2, GMM_COV_FULL, 0, 1, 17, -87.25, gmm_model_bic(m), NAN, 0.0}};
  if (gmm_model_set_candidates(m, cand, 2) != GMM_OK) return 1;
  size_t n = gmm_blob_size(m);
  unsigned char *p = malloc(n);
  if (!p) return 1;
  gmm_blob_write(m, p);
  if (p[4] != 3) {
    fprintf(stderr, "the encoder wrote format version %d, not 3\n", p[4]);
    return 1;
  }
  /* It must decode before it is kept. */
  gmm_model *back = NULL;
  if (gmm_blob_read(p, n, &gmm_libc_allocator, &back, err, sizeof err) != GMM_OK) {
    fprintf(stderr, "the version 3 model does not decode: %s\n", err);
    return 1;
  }
  if (write_new_file(path, p, n) != 0) return 1;
  double *scratch = malloc(sizeof(double) * (gmm_model_scratch_len(back) + 1));
  if (!scratch) return 1;
  double score = gmm_model_score_row(back, row, scratch, NULL, NULL);
  printf("/* FIXTURE3_VALUES_BEGIN (printed by tests/make_blob_fixture.c --v3) */\n");
  printf("#define FIXTURE3_LEN %zu\n", n);
  printf("static const double FIXTURE3_MISSING_FRACTION = %.17g;\n",
         back->summary.missing_fraction);
  printf("static const double FIXTURE3_ROW[3] = {%.17g, %.17g, %.17g};\n", row[0], row[1],
         row[2]);
  printf("static const double FIXTURE3_ROW_SCORE = %.17g;\n", score);
  printf("/* FIXTURE3_VALUES_END */\n");
  free(scratch);
  free(p);
  gmm_model_free(back);
  gmm_model_free(m);
  return 0;
}

/* model_v4.bin: the selection described above. */
static int write_v4(const char *path) {
  static const int labels[16] = {0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1};
  double rows[16][2];
  memcpy(rows, ROWS, sizeof ROWS);
  memcpy(rows[12], BETWEEN, sizeof BETWEEN);
  gmm_options opt;
  gmm_options_default(&opt, 2);
  opt.init = GMM_INIT_LABELS;
  opt.criterion = GMM_CRITERION_ICL;
  opt.hc_rows = 500;
  opt.missing = GMM_MISSING_SKIP;
  opt.max_iter = 50;
  opt.tol = 1e-5;
  opt.seed = UINT64_C(1099511627781); /* 2^40 + 5 */
  double weights[16];
  for (int i = 0; i < 16; i++) weights[i] = 1.0 + (double)(i % 2);
  gmm_data data = {&rows[0][0], 16, 2, weights, 3, labels};
  const int ks[2] = {1, 2};
  const gmm_cov_type types[2] = {GMM_COV_EVE, GMM_COV_VEV};
  gmm_model *m = NULL;
  char err[512] = "";
  gmm_status rc = gmm_fit_select(&data, &opt, ks, 2, types, 2, &gmm_libc_allocator, NULL, NULL,
                                 &m, err, sizeof err);
  if (rc != GMM_OK) {
    fprintf(stderr, "gmm_fit_select failed (%d): %s\n", (int)rc, err);
    return 1;
  }
  size_t n = gmm_blob_size(m);
  unsigned char *p = malloc(n);
  if (!p) return 1;
  gmm_blob_write(m, p);
  if (p[4] != 4) {
    fprintf(stderr, "the encoder wrote format version %d, not 4\n", p[4]);
    return 1;
  }
  /* It must decode, and encode to itself, before it is kept. */
  gmm_model *back = NULL;
  if (gmm_blob_read(p, n, &gmm_libc_allocator, &back, err, sizeof err) != GMM_OK) {
    fprintf(stderr, "the version 4 model does not decode: %s\n", err);
    return 1;
  }
  unsigned char *again = malloc(n);
  if (!again || gmm_blob_size(back) != n) return 1;
  gmm_blob_write(back, again);
  if (memcmp(again, p, n) != 0) {
    fprintf(stderr, "the version 4 model does not encode to the same bytes\n");
    return 1;
  }
  free(again);
  if (write_new_file(path, p, n) != 0) return 1;
  double *scratch = malloc(sizeof(double) * (gmm_model_scratch_len(back) + 1));
  if (!scratch) return 1;
  double post[2];
  int label = -1;
  double score = gmm_model_score_row(back, SCORE_ROW, scratch, post, &label);
  size_t k = (size_t)back->k, d = (size_t)back->d;
  printf("/* FIXTURE4_VALUES_BEGIN (printed by tests/make_blob_fixture.c --v4) */\n");
  printf("#define FIXTURE4_LEN %zu\n", n);
  printf("#define FIXTURE4_K %d\n", back->k);
  printf("#define FIXTURE4_COV_TYPE %d /* %s */\n", (int)back->covariance_type,
         gmm_cov_model_name(back->covariance_type));
  printf("#define FIXTURE4_N_CANDIDATES %d\n", back->n_candidates);
  printf("static const double FIXTURE4_WEIGHTS[FIXTURE4_K] = {");
  for (size_t j = 0; j < k; j++) printf("%s%.17g", j ? ", " : "", back->weights[j]);
  printf("};\n");
  printf("static const double FIXTURE4_MEANS[FIXTURE4_K * 2] = {");
  for (size_t i = 0; i < k * d; i++) printf("%s%.17g", i ? ", " : "", back->means[i]);
  printf("};\n");
  size_t n_cov = gmm_cov_len(back->k, back->d, back->covariance_type);
  printf("static const double FIXTURE4_COVS[%zu] = {", n_cov);
  for (size_t i = 0; i < n_cov; i++) printf("%s%.17g", i ? ", " : "", back->covariances[i]);
  printf("};\n");
  printf("static const double FIXTURE4_N_SAMPLES = %.17g;\n", back->summary.n_samples);
  printf("static const double FIXTURE4_LOG_LIKELIHOOD = %.17g;\n", back->summary.log_likelihood);
  printf("static const double FIXTURE4_LOG_MAP = %.17g;\n", back->summary.log_map);
  printf("static const int FIXTURE4_N_ITER = %d;\n", back->summary.n_iter);
  printf("static const int FIXTURE4_CONVERGED = %d;\n", back->summary.converged);
  printf("static const struct {\n  int k, covariance_type, failed, converged, n_iter;\n"
         "  double log_likelihood, bic, icl;\n} FIXTURE4_CANDIDATES[FIXTURE4_N_CANDIDATES] = {\n");
  for (int c = 0; c < back->n_candidates; c++) {
    const gmm_candidate *cd = &back->candidates[c];
    printf("    {%d, %d, %d, %d, %d, %.17g, %.17g, %.17g},\n", cd->k, (int)cd->covariance_type,
           cd->failed, cd->converged, cd->n_iter, cd->log_likelihood, cd->bic, cd->icl);
  }
  printf("};\n");
  printf("static const double FIXTURE4_ROW[2] = {%.17g, %.17g};\n", SCORE_ROW[0], SCORE_ROW[1]);
  printf("static const double FIXTURE4_ROW_SCORE = %.17g;\n", score);
  printf("static const double FIXTURE4_ROW_POSTERIORS[FIXTURE4_K] = {%.17g, %.17g};\n", post[0],
         post[1]);
  printf("#define FIXTURE4_ROW_LABEL %d\n", label);
  printf("/* FIXTURE4_VALUES_END */\n");
  free(scratch);
  free(p);
  gmm_model_free(back);
  gmm_model_free(m);
  return 0;
}

/* Prints n doubles as a C initialiser. */
static void print_doubles(const char *name, const double *v, size_t n) {
  printf("static const double %s[%zu] = {", name, n);
  for (size_t i = 0; i < n; i++) printf("%s%.17g", i ? ", " : "", v[i]);
  printf("};\n");
}

/* model_v5.bin: the variational fit described above. */
static int write_v5(const char *path) {
  double rows[16][2];
  memcpy(rows, ROWS, sizeof ROWS);
  memcpy(rows[12], BETWEEN, sizeof BETWEEN);
  gmm_options opt;
  gmm_options_default(&opt, 6);
  opt.prior = GMM_PRIOR_DIRICHLET_PROCESS;
  opt.weight_concentration_prior = 0.125;
  opt.prune = 1;
  opt.max_iter = 300;
  opt.tol = 1e-6;
  opt.seed = UINT64_C(1099511627783); /* 2^40 + 7 */
  gmm_data data = {&rows[0][0], 16, 2, NULL, 3, NULL};
  gmm_model *m = NULL;
  char err[512] = "";
  gmm_status rc = gmm_fit(&data, &opt, &gmm_libc_allocator, NULL, NULL, &m, err, sizeof err);
  if (rc != GMM_OK) {
    fprintf(stderr, "gmm_fit failed (%d): %s\n", (int)rc, err);
    return 1;
  }
  size_t n = gmm_blob_size(m);
  unsigned char *p = n ? malloc(n) : NULL;
  if (!p) return 1;
  gmm_blob_write(m, p);
  if (p[4] != 5) {
    fprintf(stderr, "the encoder wrote format version %d, not 5\n", p[4]);
    return 1;
  }
  gmm_model *back = NULL;
  if (gmm_blob_read(p, n, &gmm_libc_allocator, &back, err, sizeof err) != GMM_OK) {
    fprintf(stderr, "the version 5 model does not decode: %s\n", err);
    return 1;
  }
  unsigned char *again = malloc(n);
  if (!again || gmm_blob_size(back) != n) return 1;
  gmm_blob_write(back, again);
  if (memcmp(again, p, n) != 0) {
    fprintf(stderr, "the version 5 model does not encode to the same bytes\n");
    return 1;
  }
  free(again);
  if (write_new_file(path, p, n) != 0) return 1;
  double *scratch = malloc(sizeof(double) * (gmm_model_scratch_len(back) + 1));
  if (!scratch) return 1;
  size_t k = (size_t)back->k, d = (size_t)back->d;
  double post[GMM_MAX_K];
  int label = -1;
  double score = gmm_model_score_row(back, SCORE_ROW, scratch, post, &label);
  const gmm_options *o = &back->options;
  const gmm_summary *s = &back->summary;
  printf("/* FIXTURE5_VALUES_BEGIN (printed by tests/make_blob_fixture.c --v5) */\n");
  printf("#define FIXTURE5_LEN %zu\n", n);
  printf("#define FIXTURE5_K %d\n", back->k);
  printf("#define FIXTURE5_N_PRUNED %d\n", s->n_pruned);
  print_doubles("FIXTURE5_WEIGHTS", back->weights, k);
  print_doubles("FIXTURE5_MEANS", back->means, k * d);
  print_doubles("FIXTURE5_COVS", back->covariances, gmm_cov_len(back->k, back->d, back->covariance_type));
  print_doubles("FIXTURE5_MEAN_PRIOR", back->mean_prior, d);
  print_doubles("FIXTURE5_COVARIANCE_PRIOR", back->covariance_prior, d * d);
  print_doubles("FIXTURE5_WEIGHT_CONCENTRATION", back->weight_concentration, 2 * k);
  print_doubles("FIXTURE5_MEAN_PRECISION", back->mean_precision, k);
  print_doubles("FIXTURE5_DEGREES_OF_FREEDOM", back->degrees_of_freedom, k);
  printf("static const double FIXTURE5_WEIGHT_CONCENTRATION_PRIOR = %.17g;\n",
         o->weight_concentration_prior);
  printf("static const double FIXTURE5_MEAN_PRECISION_PRIOR = %.17g;\n", o->mean_precision_prior);
  printf("static const double FIXTURE5_DEGREES_OF_FREEDOM_PRIOR = %.17g;\n",
         o->degrees_of_freedom_prior);
  printf("static const double FIXTURE5_LOWER_BOUND = %.17g;\n", s->lower_bound);
  printf("static const double FIXTURE5_N_SAMPLES = %.17g;\n", s->n_samples);
  printf("static const double FIXTURE5_LOG_LIKELIHOOD = %.17g;\n", s->log_likelihood);
  printf("static const double FIXTURE5_LOG_MAP = %.17g;\n", s->log_map);
  printf("static const int FIXTURE5_N_ITER = %d;\n", s->n_iter);
  printf("static const int FIXTURE5_CONVERGED = %d;\n", s->converged);
  printf("static const double FIXTURE5_ROW[2] = {%.17g, %.17g};\n", SCORE_ROW[0], SCORE_ROW[1]);
  printf("static const double FIXTURE5_ROW_SCORE = %.17g;\n", score);
  print_doubles("FIXTURE5_ROW_POSTERIORS", post, k);
  printf("#define FIXTURE5_ROW_LABEL %d\n", label);
  printf("/* FIXTURE5_VALUES_END */\n");
  free(scratch);
  free(p);
  gmm_model_free(back);
  gmm_model_free(m);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--v5") == 0) return write_v5(argv[2]);
  if (argc == 3 && strcmp(argv[1], "--v3") == 0) return write_v3(argv[2]);
  if (argc == 3 && strcmp(argv[1], "--v4") == 0) return write_v4(argv[2]);
  if (argc != 2) {
    fprintf(stderr, "usage: %s tests/fixtures/model_v2.bin\n"
                    "       %s --v3 tests/fixtures/model_v3.bin\n"
                    "       %s --v4 tests/fixtures/model_v4.bin\n"
                    "       %s --v5 tests/fixtures/model_v5.bin\n",
            argv[0], argv[0], argv[0], argv[0]);
    return 2;
  }
  gmm_options opt;
  gmm_options_default(&opt, 2);
  double weights[12];
  for (int i = 0; i < 12; i++) weights[i] = 1.0 + (double)(i % 2);
  gmm_data data = {&ROWS[0][0], 12, 2, weights, 3, NULL};
  const int ks[2] = {1, 2};
  const gmm_cov_type types[2] = {GMM_COV_TIED, GMM_COV_DIAG};
  gmm_model *m = NULL;
  char err[512] = "";
  gmm_status rc =
      gmm_fit_select(&data, &opt, ks, 2, types, 2, &gmm_libc_allocator, NULL, NULL, &m, err, sizeof err);
  if (rc != GMM_OK) {
    fprintf(stderr, "gmm_fit_select failed (%d): %s\n", (int)rc, err);
    return 1;
  }
  /* Version 2 has no place for the ICL this build's fits know. */
  m->summary.log_map = NAN;
  size_t n = gmm_blob_size(m);
  unsigned char *p = malloc(n);
  if (!p) return 1;
  gmm_blob_write(m, p);
  if (p[4] != 2) {
    fprintf(stderr, "the encoder wrote format version %d, not 2\n", p[4]);
    return 1;
  }

  FILE *f = fopen(argv[1], "wbx");
  if (!f) {
    fprintf(stderr, "%s: cannot create (it exists? fixtures are never regenerated)\n", argv[1]);
    return 1;
  }
  if (fwrite(p, 1, n, f) != n || fclose(f) != 0) {
    fprintf(stderr, "%s: write failed\n", argv[1]);
    return 1;
  }

  double *scratch = malloc(sizeof(double) * (gmm_model_scratch_len(m) + 1));
  if (!scratch) return 1;
  double score = gmm_model_score_row(m, SCORE_ROW, scratch, NULL, NULL);
  printf("/* FIXTURE_VALUES_BEGIN (printed by tests/make_blob_fixture.c) */\n");
  printf("#define FIXTURE_LEN %zu\n", n);
  printf("#define FIXTURE_COV_TYPE %d\n", (int)m->covariance_type);
  printf("#define FIXTURE_N_CANDIDATES %d\n", m->n_candidates);
  printf("#define FIXTURE_K %d\n", m->k);
  printf("#define FIXTURE_D %d\n", m->d);
  printf("static const double FIXTURE_WEIGHTS[FIXTURE_K] = {%.17g, %.17g};\n", m->weights[0],
         m->weights[1]);
  printf("static const double FIXTURE_MEANS[FIXTURE_K * FIXTURE_D] = {%.17g, %.17g, %.17g, %.17g};\n",
         m->means[0], m->means[1], m->means[2], m->means[3]);
  printf("static const double FIXTURE_N_SAMPLES = %.17g;\n", m->summary.n_samples);
  printf("static const int64_t FIXTURE_N_SKIPPED = %" PRId64 ";\n", m->summary.n_skipped);
  printf("static const double FIXTURE_ROW[FIXTURE_D] = {%.17g, %.17g};\n", SCORE_ROW[0],
         SCORE_ROW[1]);
  printf("static const double FIXTURE_ROW_SCORE = %.17g;\n", score);
  printf("/* FIXTURE_VALUES_END */\n");
  free(scratch);
  free(p);
  gmm_model_free(m);
  return 0;
}
