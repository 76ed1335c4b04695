// cli.h — what every mechlab verb shares: the verb table, exit codes, messages, common flags.
//
// Exit codes: 0 success, 1 failure (bad input, I/O error), 2 usage error. An experiment that ran
// to the end exits 0 even when a reproduction check misses: the miss is a result, printed as
// [MISS] and counted in summary.json's checks_missed.
// Messages go to stderr as "mechlab: <what>: <why>".
#ifndef MECHLAB_CLI_H
#define MECHLAB_CLI_H

#include <stddef.h>

#define MECHLAB_VERSION "0.1.0"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

typedef struct {
    const char *name;
    const char *summary;  // one line for `mechlab --help`
    int (*run)(int argc, char **argv);  // argv[0] is the verb name
} CliVerb;

// Prints "mechlab: <formatted>" to stderr; returns EXIT_FAIL.
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

// Prints "mechlab <verb>: <formatted>" and "Try 'mechlab <verb> --help'." to stderr; returns
// EXIT_USAGE.
int cli_usage(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// Prints the library's current error (err_msg()) as "mechlab: <msg>"; returns EXIT_FAIL.
int cli_fail_err(void);

// Parses a whole decimal integer / float option value; on error prints a usage message naming the
// flag and returns -1.
int cli_int(const char *verb, const char *flag, const char *s, long lo, long hi, long *out);
int cli_float(const char *verb, const char *flag, const char *s, double *out);

// A checkpoint argument: a .safetensors file, or a run folder holding model.safetensors.
// Writes the file path to out. Returns 0, or -1 with err_set.
int cli_ckpt_path(const char *arg, char *out, size_t n);

struct option;
// "--name" of the getopt_long option whose val is `val` (for messages).
const char *cli_optname(const struct option *opts, int val);

#endif
