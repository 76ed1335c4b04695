#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char err_buf[ERR_MSG_MAX];

int err_set(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_buf, sizeof err_buf, fmt, ap);
    va_end(ap);
    return -1;
}

int err_prefix(const char *prefix) {
    // Built piecewise (not one snprintf) so the result is cut at ERR_MSG_MAX without warnings.
    char tmp[ERR_MSG_MAX];
    size_t n = strlen(prefix);
    if (n > ERR_MSG_MAX - 3) n = ERR_MSG_MAX - 3;
    memcpy(tmp, prefix, n);
    tmp[n++] = ':';
    tmp[n++] = ' ';
    size_t m = strlen(err_buf);
    if (m > ERR_MSG_MAX - 1 - n) m = ERR_MSG_MAX - 1 - n;
    memcpy(tmp + n, err_buf, m);
    tmp[n + m] = '\0';
    memcpy(err_buf, tmp, n + m + 1);
    return -1;
}

const char *err_msg(void) { return err_buf; }

void err_clear(void) { err_buf[0] = '\0'; }
