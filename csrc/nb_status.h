/* Status codes shared by every native function.
 *
 * A benchmark library must never print or exit: each function returns an
 * nb_code and, on failure, fills an nb_status naming the system call and the
 * errno, so the Python boundary can raise an exception that says which call
 * failed and why. */
#ifndef NB_STATUS_H
#define NB_STATUS_H

#include <errno.h>

typedef enum {
    NB_OK = 0,
    NB_ERR_SYSCALL = 1,     /* a system call failed; errno_value and call say which */
    NB_ERR_INVALID = 2,     /* bad argument from the caller (a bug above, not the OS) */
    NB_ERR_NOMEM = 3,       /* memory could not be faulted in (empty hugepage pool, cpuset) */
    NB_ERR_UNSUPPORTED = 4  /* the kernel or CPU lacks a needed feature */
} nb_code;

typedef struct {
    int code;          /* an nb_code */
    int errno_value;   /* errno at the failure, 0 when not from the OS */
    const char *call;  /* static string: the failing call, or a short reason */
} nb_status;

static inline int nb_fail(nb_status *st, int code, int err, const char *call)
{
    if (st) {
        st->code = code;
        st->errno_value = err;
        st->call = call;
    }
    return code;
}

static inline int nb_ok(nb_status *st)
{
    if (st) {
        st->code = NB_OK;
        st->errno_value = 0;
        st->call = "";
    }
    return NB_OK;
}

#endif
