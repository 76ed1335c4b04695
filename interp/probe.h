// probe.h — linear probes: logistic regression (binary and softmax) and ridge regression.
//
// X is [n, d] row-major float: activations at one hook point and position, one row per example.
// Targets are labels int [n] in [0, n_classes) for a classifier, or Y float [n, T] for ridge.
//
//     ProbeConfig cfg = probe_defaults();
//     Probe *p = probe_train_logistic(X, labels, n, d, n_classes, &cfg);
//     ... p->W [n_out, d], p->b [n_out] (the direction, original feature space), p->test_acc,
//         p->confusion, p->control_acc, p->selectivity ...
//     probe_free(p);
//
// What is fitted.
//   - The rows are split once, from cfg.seed: round(test_frac·n) test rows, the rest train.
//     Standardisation (mean and population standard deviation per feature) comes from the train
//     rows only; a feature constant over them keeps std 1 (its weight ends at 0).
//   - Logistic: in standardised space xs = (x − mean)/std, logits z = W_std·xs + b_std, and
//         f(θ) = (1/n_train) Σ_i CE(z_i, y_i) + (l2/2)·‖W_std‖²      (the bias is not penalised)
//     with CE the log-loss of sigmoid(z) for two classes (one row of weights: n_out = 1, the
//     direction towards class 1) and of softmax(z) for three or more (n_out = n_classes). f is
//     minimised in double by L-BFGS (10 pairs, backtracking Armijo line search) from θ = 0 until
//     ‖∇f‖_∞ <= tol. With l2 > 0 f is strongly convex, so the minimum is unique and L-BFGS
//     reaches it; with l2 = 0 on separable classes it does not exist (weights grow without bound)
//     and training stops at max_iter with converged = 0.
//   - Ridge: in the same standardised space, with targets centred,
//         f(W) = (1/2n_train) Σ_i ‖y_i − W_std·xs_i − b_std‖² + (l2/2)·‖W_std‖²
//     solved in closed form, (XsᵀXs/n + l2·I)·W_stdᵀ = Xsᵀ·Yc/n by Cholesky; b_std is the train
//     mean of y. l2 = 0 is ordinary least squares (an error if the features are collinear).
//   - The probe is reported in the ORIGINAL feature space too, as y = W·x + b with
//     W = W_std / std (per column) and b = b_std − W·mean, so the direction is the one a user
//     would apply to raw activations.
//   - Control task (Hewitt & Liang 2019): the same probe, same split, same config, trained and
//     scored on labels (or target rows) shuffled by a seeded permutation. A probe that reads a
//     property out of the activations beats its control; one that memorises does not.
//     selectivity = test_acc − control_acc (ridge: test_r2 − control_r2).
//
// Determinism: the loss and gradient are summed over fixed chunks of train rows (the chunking
// depends only on n_train) and the chunks added in order; ridge uses linalg_syrk. So the same seed
// gives a bit-identical probe for any thread count.
#ifndef MECHLAB_PROBE_H
#define MECHLAB_PROBE_H

#include <stdint.h>

typedef struct {
    double l2;         // L2 strength in standardised space (>= 0)
    double test_frac;  // fraction of rows held out, in (0, 1)
    uint64_t seed;     // the split and the control shuffle
    int max_iter;      // L-BFGS iterations (logistic)
    double tol;        // L-BFGS stops when ‖∇f‖_∞ <= tol (logistic)
    int control;       // 1: also train the control probe on shuffled labels
} ProbeConfig;

typedef enum { PROBE_LOGISTIC, PROBE_RIDGE } ProbeKind;

typedef struct {
    ProbeKind kind;
    int d;          // features
    int n_out;      // rows of W: 1 (binary), n_classes (>= 3), or T (ridge targets)
    int n_classes;  // logistic: number of classes (>= 2); ridge: 0
    int n_train, n_test;
    int *train_rows;  // [n_train] row indices into X, ascending
    int *test_rows;   // [n_test] row indices into X, ascending

    // The probe, in the original feature space (what `mechlab probe` saves): out = W·x + b.
    float *W;  // [n_out, d]
    float *b;  // [n_out]
    // The same in standardised space, as optimised, and the standardisation (train rows).
    double *W_std;  // [n_out, d]
    double *b_std;  // [n_out]
    double *mean;   // [d]
    double *std;    // [d] population std; 1 where a feature is constant

    // Optimisation (logistic; ridge reports loss and sets iters = 0, converged = 1).
    double loss;    // final objective f on the train rows
    int iters;      // L-BFGS iterations taken
    int converged;  // 1 if ‖∇f‖_∞ <= tol was reached

    // Metrics. Logistic: accuracies and confusion matrices; ridge: R² (mean over targets, each
    // 1 − SS_res/SS_tot about that split's own mean; a constant target scores 1 if predicted
    // exactly, else 0, as sklearn does). Control values are NaN when cfg.control is 0.
    double train_acc, test_acc, control_acc;
    int64_t *confusion;          // [n_classes, n_classes] test rows: [true, predicted]
    int64_t *control_confusion;  // the control probe's, on its shuffled test labels (NULL if off)
    double train_r2, test_r2, control_r2;
    double *test_r2_per_target;  // [n_out] (ridge)
    double selectivity;          // test minus control (accuracy or R²)
} Probe;

// l2 1e-4, test_frac 0.25, seed 0, max_iter 1000, tol 1e-6, control 1.
ProbeConfig probe_defaults(void);

// Trains a logistic probe on X[n, d] with labels[n] in [0, n_classes), n_classes >= 2.
// NULL with err_set on bad input (a label out of range, a NaN/Inf in X, a config value out of
// range, too few rows for the split: at least 1 test and 2 train rows) or out of memory.
// A run that stops at max_iter is not an error: converged says so.
Probe *probe_train_logistic(const float *X, const int *labels, int n, int d, int n_classes,
                            const ProbeConfig *cfg);

// Trains a ridge probe on X[n, d] with targets Y[n, T]. NULL with err_set on bad input (as above;
// also collinear features with l2 = 0) or out of memory.
Probe *probe_train_ridge(const float *X, const float *Y, int n, int d, int T,
                         const ProbeConfig *cfg);

void probe_free(Probe *p);  // probe_free(NULL) is fine

// out[n, n_out] = the probe applied to X[n, d] (any rows, new data too), in double from the
// standardised parameters, rounded to float once: logits for a logistic probe, predicted values
// for ridge. Threaded over rows; the same for any thread count. -1 with err_set if out of memory.
int probe_decision(const Probe *p, float *out, const float *X, int n);

// pred[n] = predicted class for each row of X[n, d] (logistic only: returns -1 with err_set for
// a ridge probe). Binary: class 1 when the logit is > 0; softmax: the first largest logit.
int probe_predict(const Probe *p, int *pred, const float *X, int n);

// ---- the logistic objective, exposed so tests can check its gradient -------------------------
// θ is [n_out·d weights (row-major W_std), then n_out biases], n_out = 1 if n_classes == 2 else
// n_classes. rows[n] index X; labels are indexed by row (labels[rows[i]]).
typedef struct {
    const float *X;
    int d;
    const int *rows;
    int n;
    const int *labels;
    int n_classes;
    const double *mean;     // [d]
    const double *inv_std;  // [d]
    double l2;
} ProbeObjective;

// *f = the objective at θ and grad[n_out·(d+1)] = its gradient. Returns 0, or -1 with err_set if
// out of memory (it allocates its scratch; training uses the same code with scratch made once).
int probe_logistic_objective(const ProbeObjective *o, const double *theta, double *f,
                             double *grad);

#endif
