#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "model/err.h"

int cli_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("mechlab: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return EXIT_FAIL;
}

int cli_usage(const char *verb, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "mechlab %s: ", verb);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'mechlab %s --help'.\n", verb);
    va_end(ap);
    return EXIT_USAGE;
}

int cli_fail_err(void) { return cli_fail("%s", err_msg()); }

int cli_int(const char *verb, const char *flag, const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        cli_usage(verb, "%s: '%s' is not a whole number in [%ld, %ld]", flag, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_float(const char *verb, const char *flag, const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v != v) {
        cli_usage(verb, "%s: '%s' is not a number", flag, s);
        return -1;
    }
    *out = v;
    return 0;
}

const char *cli_optname(const struct option *opts, int val) {
    static _Thread_local char name[64];
    for (; opts->name; opts++)
        if (opts->val == val) {
            snprintf(name, sizeof name, "--%s", opts->name);
            return name;
        }
    return "option";
}

int cli_ckpt_path(const char *arg, char *out, size_t n) {
    struct stat st;
    if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) {
        if ((size_t)snprintf(out, n, "%s/model.safetensors", arg) >= n)
            return err_set("%s: path too long", arg);
    } else if ((size_t)snprintf(out, n, "%s", arg) >= n) {
        return err_set("%s: path too long", arg);
    }
    return 0;
}
