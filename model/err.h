// err.h — the one error convention of mechlab.
//
// A library function that can fail on user input returns an int status: 0 on success, -1 on
// failure. Before returning -1 it calls err_set() with a message that names the thing at fault
// ("runs/a/model.safetensors: header length 9e12 exceeds file size 4096"). The caller prints
// err_msg() — the command does so as "mechlab: <msg>" and exits 1. Nothing in the library calls
// exit() or abort() on user input; assert() is for programmer errors only.
//
// The message lives in a thread-local buffer, so threads do not overwrite each other's errors.
#ifndef MECHLAB_ERR_H
#define MECHLAB_ERR_H

#define ERR_MSG_MAX 1024

// Sets the current thread's error message (printf format). Always returns -1, so a failing
// function can end with `return err_set("...")`.
int err_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

// Prepends "prefix: " to the current message (e.g. the file name a lower layer did not know).
// Always returns -1.
int err_prefix(const char *prefix);

// The current thread's last error message ("" if none was set).
const char *err_msg(void);

// Clears the current thread's message.
void err_clear(void);

#endif
