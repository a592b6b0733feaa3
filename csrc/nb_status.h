/* Status codes shared by every native function.
 *
 * A benchmark library must never print or exit: each function returns an
 * nb_code and, on failure, fills an nb_status naming the system call and the
 * errno (or the nb_ function that refused and why), so the Python boundary can
 * raise an exception that says which call failed and why. The code is chosen
 * here, where the call is known, and kept up to Python: the boundary maps each
 * code to one exception class and never looks at errno. */
#ifndef NB_STATUS_H
#define NB_STATUS_H

#include <errno.h>

typedef enum {
    NB_OK = 0,
    NB_ERR_SYSCALL = 1,     /* a system call failed; errno_value and call say which */
    NB_ERR_INVALID = 2,     /* an argument the core cannot use (or the kernel refused, e.g. mbind EINVAL) */
    NB_ERR_NOMEM = 3,       /* memory could not be had (empty hugepage pool, full node, cpuset) */
    NB_ERR_UNSUPPORTED = 4, /* the kernel or CPU lacks a needed feature */
    NB_ERR_DENIED = 5,      /* the kernel denied the call (EPERM/EACCES: seccomp, no CAP_SYS_NICE) */
    NB_ERR_TIMEOUT = 6      /* a bounded wait ran out: a partner thread never answered (c2c) */
} nb_code;

typedef struct {
    int code;           /* an nb_code */
    int errno_value;    /* errno at the failure, 0 when not from the OS */
    const char *call;   /* static string: the failing system call, or the nb_ function that refused */
    const char *detail; /* static string: why a refusal was made; "" for a failed system call */
} nb_status;

static inline int nb_fail(nb_status *st, int code, int err, const char *call, const char *detail)
{
    if (st) {
        st->code = code;
        st->errno_value = err;
        st->call = call;
        st->detail = detail;
    }
    return code;
}

/* A system call failed with err: the code follows from the errno, once, here. */
static inline int nb_fail_errno(nb_status *st, int err, const char *call)
{
    int code = NB_ERR_SYSCALL;
    if (err == ENOMEM)
        code = NB_ERR_NOMEM;
    else if (err == EPERM || err == EACCES)
        code = NB_ERR_DENIED;
    else if (err == ENOSYS || err == EOPNOTSUPP)
        code = NB_ERR_UNSUPPORTED;
    return nb_fail(st, code, err, call, "");
}

/* The calling nb_ function refuses an argument; detail says which and why. */
#define nb_invalid(st, detail) nb_fail((st), NB_ERR_INVALID, EINVAL, __func__, (detail))

static inline int nb_ok(nb_status *st)
{
    if (st) {
        st->code = NB_OK;
        st->errno_value = 0;
        st->call = "";
        st->detail = "";
    }
    return NB_OK;
}

#endif
