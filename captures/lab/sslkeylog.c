/* LD_PRELOAD shim for the capture lab: makes any program linked against OpenSSL
 * (mosquitto, mosquitto_pub, mosquitto_sub) append its TLS secrets to the file named by
 * $SSLKEYLOGFILE, in the NSS key log format that Wireshark reads.  OpenSSL itself has no
 * SSLKEYLOGFILE support, only SSL_CTX_set_keylog_callback(), so the shim installs that
 * callback on every SSL_CTX that reaches SSL_new().  No OpenSSL headers needed.
 *
 *   cc -shared -fPIC -O2 -o sslkeylog.so sslkeylog.c -ldl
 *   SSLKEYLOGFILE=/tmp/keys LD_PRELOAD=./sslkeylog.so mosquitto -c mosquitto.conf
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;
typedef void (*keylog_cb)(const SSL *, const char *);

static void write_line(const SSL *ssl, const char *line) {
    (void)ssl;
    const char *path = getenv("SSLKEYLOGFILE");
    if (!path || !*path) return;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return;
    size_t n = strlen(line);
    char buf[1024];
    if (n + 1 <= sizeof buf) {            /* one write() per line: lines never interleave */
        memcpy(buf, line, n);
        buf[n] = '\n';
        if (write(fd, buf, n + 1) < 0) { /* nothing to do */ }
    }
    close(fd);
}

SSL *SSL_new(SSL_CTX *ctx) {
    static SSL *(*real_new)(SSL_CTX *);
    static void (*set_cb)(SSL_CTX *, keylog_cb);
    if (!real_new) real_new = (SSL *(*)(SSL_CTX *))dlsym(RTLD_NEXT, "SSL_new");
    if (!set_cb) set_cb = (void (*)(SSL_CTX *, keylog_cb))dlsym(RTLD_NEXT, "SSL_CTX_set_keylog_callback");
    if (ctx && set_cb) set_cb(ctx, write_line);
    return real_new(ctx);
}
