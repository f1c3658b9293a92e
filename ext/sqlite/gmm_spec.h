/*
** gmm_spec.h -- gmm_fit's first argument, parsed (gmm_spec.c).
*/
#ifndef GMM_SPEC_H
#define GMM_SPEC_H

#include "gmm_sqlite.h"

typedef struct gmm_fit_spec {
  gmm_options opt; /* init pointers point into the arrays below */
  int weighted;    /* the first value after spec is a row weight */
  int vector_f64;  /* BLOB vectors hold float64, not float32 */
  int verbose;     /* 0, 1 or 2: progress on stderr */
  int sample_size; /* gmm_init's sample; 0 when not given */
  int *k_list;     /* n_k values when k was a list, else NULL */
  int n_k;
  gmm_cov_type *type_list; /* n_types values when covariance_type was a list */
  int n_types;
  char *init_json[3]; /* weights_init, means_init, precisions_init as
                         JSON text, until d is known */
  double *weights_init, *means_init, *precisions_init;
  /* The prior's arrays: mean_prior and covariance_prior as JSON text until
  ** d is known (a covariance_prior given as a bare number is kept as
  ** covariance_prior_number, covariance_prior_is_number set), then read
  ** into the arrays that opt points to. */
  char *prior_json[2];
  int covariance_prior_is_number;
  double covariance_prior_number;
  double *mean_prior, *covariance_prior;
  /* The first of the prior options the spec gives (prior included), NULL
  ** when none: gmm_init refuses them. */
  const char *prior_option;
  gmm_model *warm_start; /* the decoded model of a BLOB spec */
} gmm_fit_spec;

/* Parses argument 1 of gmm_fit. Returns 0, or -1 after setting an error on
** ctx. *s is owned by the caller either way (gmm_spec_clear). */
int gmm_spec_parse(sqlite3_context *ctx, sqlite3_value *spec, gmm_fit_spec *s);
/* Reads the *_init arrays now that d is known. Returns 0 or -1 as above. */
int gmm_spec_bind_d(sqlite3_context *ctx, gmm_fit_spec *s, int d);
void gmm_spec_clear(gmm_fit_spec *s);

#endif /* GMM_SPEC_H */
