#!/usr/bin/env Rscript
# make_missing_fixtures.R -- independent oracles for EM with missing features
# (issue 11, "NULLs are data"): the maximum-likelihood multivariate normal
# (k = 1) of data with missing cells, computed twice, by two unrelated
# programs with tight tolerances:
#
#   lavaan  full-information maximum likelihood (FIML) of the saturated model
#           (every mean, variance and covariance free), sem(..., missing =
#           "ml"), optimised by nlminb over the casewise observed-data
#           likelihood; and lavaan's own EM for the unrestricted (h1) model,
#           lavInspect(fit, "sampstat.h1"), which it uses for fit statistics.
#           Rosseel, Y. (2012) lavaan: An R Package for Structural Equation
#           Modeling. Journal of Statistical Software 48(2), 1-36.
#   Amelia  the EM of Amelia II (its emcore, run by amelia() with boot.type =
#           "none" so that the EM sees the data themselves rather than a
#           bootstrap resample, empri = 0: no ridge prior, and autopri = 0:
#           no ridge prior added when the chain wanders). Honaker, J.,
#           King, G. and Blackwell, M. (2011) Amelia II: A Program for Missing
#           Data. Journal of Statistical Software 45(7), 1-47.
#
# Both give the MLE: means, and covariances with divisor n (lavaan's
# likelihood = "normal"; Amelia's EM M-step divides by n). Amelia works on
# standardised data (each column centred on its observed mean and divided by
# its observed standard deviation, Amelia:::scalecenter) and reports its
# estimates on that scale (a$mu, a$covMatrices, a$theta); they are mapped
# back here: mu = m + s * mu_z, Sigma = diag(s) Sigma_z diag(s).
#
# The observed-data log-likelihood at the optimum, sum over rows of
# log N(x_o; mu_o, Sigma_oo), is computed here from each estimate with
# plain code, and compared with lavaan's own logl.
#
# Data sets:
#   airquality  R datasets::airquality, daily air quality measurements in New
#               York, May to September 1973 (New York State Department of
#               Conservation for ozone, National Weather Service for the
#               meteorology; Chambers, Cleveland, Kleiner and Tukey (1983)
#               Graphical Methods for Data Analysis). Columns Ozone, Solar.R,
#               Wind, Temp; 153 rows, real NAs (37 Ozone, 7 Solar.R).
#   iris_mcar   R datasets::iris (Fisher, R. A. (1936) The use of multiple
#               measurements in taxonomic problems. Annals of Eugenics 7,
#               179-188), the four measurements, 150 rows, with 120 of the 600
#               cells (20%) set to NA completely at random: sample(600, 120)
#               after set.seed(20110611) with R's default generators
#               (Mersenne-Twister, Inversion, Rejection sampling). A row whose
#               every cell is masked carries no information: it is kept in
#               the data written out (the C fit must skip it) and left out of
#               the oracles' input (lavaan and Amelia refuse it); the count is
#               printed and written.
#
# Usage (from anywhere):
#   Rscript tests/oracle/make_missing_fixtures.R OUTDIR
#
# writes, for each data set NAME,
#   OUTDIR/NAME_data.csv    the data, "NA" for a missing cell, %.17g
#   OUTDIR/NAME_oracle.csv  source,what,i,j,value  (source lavaan | lavaan_h1 |
#                           amelia; what mean (i) | cov (i,j) | loglik |
#                           iterations | all_missing_rows; 1-based i, j)
# and prints how far the estimates are from one another.
# tests/oracle/make_missing_fixtures.py runs this and writes the C header.

suppressPackageStartupMessages({
  library(lavaan)
  library(Amelia)
})

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 1) stop("usage: Rscript make_missing_fixtures.R OUTDIR")
outdir <- args[1]
dir.create(outdir, showWarnings = FALSE, recursive = TRUE)

# ---- the data ---------------------------------------------------------------

airquality_data <- function() {
  x <- as.matrix(datasets::airquality[, c("Ozone", "Solar.R", "Wind", "Temp")])
  storage.mode(x) <- "double"
  stopifnot(nrow(x) == 153, sum(is.na(x[, "Ozone"])) == 37,
            sum(is.na(x[, "Solar.R"])) == 7, !anyNA(x[, c("Wind", "Temp")]))
  x
}

iris_mcar_data <- function() {
  x <- as.matrix(datasets::iris[, 1:4])
  colnames(x) <- c("Sepal.Length", "Sepal.Width", "Petal.Length", "Petal.Width")
  set.seed(20110611, kind = "Mersenne-Twister", normal.kind = "Inversion",
           sample.kind = "Rejection")
  cells <- sample(length(x), 120)
  x[cells] <- NA
  x
}

# ---- plain reference code ---------------------------------------------------

# Observed-data log-likelihood of the rows of x (NA = missing) under N(mu, S).
observed_loglik <- function(x, mu, S) {
  total <- 0
  for (i in seq_len(nrow(x))) {
    o <- which(!is.na(x[i, ]))
    if (length(o) == 0) next
    d <- x[i, o] - mu[o]
    Soo <- S[o, o, drop = FALSE]
    R <- chol(Soo)                       # Soo = R'R
    z <- backsolve(R, d, transpose = TRUE)
    total <- total - 0.5 * (length(o) * log(2 * pi) + 2 * sum(log(diag(R))) + sum(z^2))
  }
  total
}

# ---- lavaan -----------------------------------------------------------------

# Every variance and covariance of the variables named, free: with
# missing = "ml" the means are free too, so the model is saturated and its
# FIML estimate is the MLE of the multivariate normal.
saturated_model <- function(vars) {
  lines <- character(0)
  for (a in seq_along(vars))
    lines <- c(lines, paste(vars[a], "~~", paste(vars[a:length(vars)], collapse = " + ")))
  paste(lines, collapse = "\n")
}

fit_lavaan <- function(x) {
  vars <- colnames(x)
  df <- as.data.frame(x)
  fit <- lavaan::sem(saturated_model(vars), data = df, missing = "ml",
                     meanstructure = TRUE, likelihood = "normal", baseline = FALSE,
                     em.h1.iter.max = 1000000L, em.h1.tol = 1e-13,
                     control = list(rel.tol = 1e-15, x.tol = 1e-15,
                                    iter.max = 100000L, eval.max = 100000L))
  stopifnot(lavInspect(fit, "converged"))
  implied <- lavInspect(fit, "implied")
  h1 <- lavInspect(fit, "sampstat.h1")
  list(fit = list(mean = as.numeric(implied$mean[vars]),
                  cov = unname(as.matrix(implied$cov)[vars, vars]),
                  logl_lavaan = as.numeric(fitMeasures(fit, "logl")),
                  iterations = lavInspect(fit, "iterations")),
       h1 = list(mean = as.numeric(h1$mean[vars]),
                 cov = unname(as.matrix(h1$cov)[vars, vars]),
                 logl_lavaan = as.numeric(fitMeasures(fit, "unrestricted.logl")),
                 iterations = NA))
}

# ---- Amelia -----------------------------------------------------------------

fit_amelia <- function(x) {
  vars <- colnames(x)
  # The standardisation Amelia applies (Amelia:::scalecenter): observed
  # column means and standard deviations.
  m <- colMeans(x, na.rm = TRUE)
  s <- apply(x, 2, sd, na.rm = TRUE)
  set.seed(1)  # amelia() draws the imputations; the EM itself is deterministic
  a <- Amelia::amelia(as.data.frame(x), m = 1, p2s = 0, boot.type = "none",
                      empri = 0, autopri = 0, tolerance = 1e-13, emburn = c(0, 0))
  stopifnot(a$code == 1)
  # a$theta[, , 1] is in sweep form, [-1, mu'; mu, Sigma], on the
  # standardised scale, with the variables in Amelia's internal order:
  # ascending count of missing cells (Amelia:::amstack, p.order), whatever
  # the dimnames of a$mu and a$covMatrices say.
  theta <- a$theta[, , 1]
  p_order <- order(colSums(is.na(x)))
  mu_z <- numeric(length(vars))
  S_z <- matrix(0, length(vars), length(vars))
  mu_z[p_order] <- theta[-1, 1]
  S_z[p_order, p_order] <- theta[-1, -1]
  hist <- a$iterHist[[1]]
  list(mean = as.numeric(m + s * mu_z),
       cov = unname(diag(s) %*% S_z %*% diag(s)),
       iterations = nrow(hist),
       # iterations at which more parameters moved than at the one before
       # (Amelia's "monotonicity" flag; with autopri = 0 it changes nothing)
       mono_flags = sum(hist[, 2] != 0))
}

# ---- one data set -----------------------------------------------------------

rel_diff <- function(a, b) {
  # means against the standard deviations, covariances against
  # sqrt(S_pp S_qq), as the C test measures them
  sd <- sqrt(diag(b$cov))
  c(mean = max(abs(a$mean - b$mean) / sd),
    cov = max(abs(a$cov - b$cov) / outer(sd, sd)))
}

fmt <- function(v) sprintf("%.17g", v)

run <- function(name, x) {
  all_missing <- rowSums(!is.na(x)) == 0
  xo <- x[!all_missing, , drop = FALSE]
  lav <- fit_lavaan(xo)
  am <- fit_amelia(xo)
  est <- list(lavaan = lav$fit, lavaan_h1 = lav$h1, amelia = am)
  for (s in names(est)) est[[s]]$loglik <- observed_loglik(xo, est[[s]]$mean, est[[s]]$cov)

  cat(sprintf("%s: %d rows (%d with every cell missing, left out of the oracles), %d missing cells of %d\n",
              name, nrow(x), sum(all_missing), sum(is.na(x)), length(x)))
  cat(sprintf("  lavaan FIML (nlminb, %d iterations): logl %.12f (lavaan's own %.12f)\n",
              lav$fit$iterations, est$lavaan$loglik, lav$fit$logl_lavaan))
  cat(sprintf("  lavaan h1 EM: logl %.12f (lavaan's own %.12f)\n",
              est$lavaan_h1$loglik, lav$h1$logl_lavaan))
  cat(sprintf("  Amelia EM (%d iterations, %d non-monotone flags): logl %.12f\n",
              am$iterations, am$mono_flags, est$amelia$loglik))
  pairs <- list(c("lavaan", "amelia"), c("lavaan", "lavaan_h1"), c("lavaan_h1", "amelia"))
  agreement <- 0
  for (p in pairs) {
    r <- rel_diff(est[[p[1]]], est[[p[2]]])
    dl <- abs(est[[p[1]]]$loglik - est[[p[2]]]$loglik) / abs(est[[p[2]]]$loglik)
    cat(sprintf("  %-9s vs %-9s: means %.3g sd, covariances %.3g, loglik %.3g relative\n",
                p[1], p[2], r[["mean"]], r[["cov"]], dl))
    agreement <- max(agreement, r, dl)
  }
  if (agreement > 1e-6) stop(sprintf("%s: the oracles disagree by %.3g", name, agreement))
  # MLE check: the Amelia and lavaan log-likelihoods are at a maximum; a
  # covariance with divisor n - 1 would be lower.
  n <- nrow(xo)
  stopifnot(observed_loglik(xo, est$lavaan$mean, est$lavaan$cov * n / (n - 1)) < est$lavaan$loglik)

  cells <- ifelse(is.na(x), "NA", fmt(x))
  writeLines(c(paste(colnames(x), collapse = ","), apply(cells, 1, paste, collapse = ",")),
             file.path(outdir, paste0(name, "_data.csv")))
  out <- c("source,what,i,j,value")
  for (s in names(est)) {
    e <- est[[s]]
    d <- length(e$mean)
    out <- c(out, sprintf("%s,mean,%d,0,%s", s, seq_len(d), fmt(e$mean)))
    ij <- expand.grid(j = seq_len(d), i = seq_len(d))
    out <- c(out, sprintf("%s,cov,%d,%d,%s", s, ij$i, ij$j, fmt(e$cov[cbind(ij$i, ij$j)])))
    out <- c(out, sprintf("%s,loglik,0,0,%s", s, fmt(e$loglik)))
    if (!is.na(e$iterations))
      out <- c(out, sprintf("%s,iterations,0,0,%d", s, as.integer(e$iterations)))
  }
  out <- c(out, sprintf("data,all_missing_rows,0,0,%d", sum(all_missing)),
           sprintf("data,agreement,0,0,%s", fmt(agreement)))
  writeLines(out, file.path(outdir, paste0(name, "_oracle.csv")))
}

cat(sprintf("%s; lavaan %s; Amelia %s\n", R.version.string,
            as.character(packageVersion("lavaan")), as.character(packageVersion("Amelia"))))
run("airquality", airquality_data())
run("iris_mcar", iris_mcar_data())
writeLines(c(R.version.string, paste("lavaan", as.character(packageVersion("lavaan"))),
             paste("Amelia", as.character(packageVersion("Amelia")))),
           file.path(outdir, "versions.txt"))
