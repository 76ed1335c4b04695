#include "fileio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"

static char *dupstr(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

static void af_clear(AtomicFile *af) {
    free(af->path);
    free(af->tmp_path);
    af->f = NULL;
    af->path = af->tmp_path = NULL;
}

int fileio_begin(AtomicFile *af, const char *path) {
    af->f = NULL;
    af->path = dupstr(path);
    size_t n = strlen(path) + 16;
    af->tmp_path = malloc(n);
    if (!af->path || !af->tmp_path) {
        af_clear(af);
        return err_set("%s: out of memory", path);
    }
    snprintf(af->tmp_path, n, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(af->tmp_path);
    if (fd < 0) {
        int e = errno;
        af_clear(af);
        return err_set("%s: cannot create a temporary file beside it: %s", path, strerror(e));
    }
    fchmod(fd, 0644);
    af->f = fdopen(fd, "wb");
    if (!af->f) {
        int e = errno;
        close(fd);
        unlink(af->tmp_path);
        af_clear(af);
        return err_set("%s: %s", path, strerror(e));
    }
    return 0;
}

int fileio_commit(AtomicFile *af) {
    int e = 0;
    if (fflush(af->f) != 0 || ferror(af->f)) e = errno ? errno : EIO;
    if (!e && fsync(fileno(af->f)) != 0) e = errno;
    if (fclose(af->f) != 0 && !e) e = errno ? errno : EIO;
    af->f = NULL;
    if (!e && rename(af->tmp_path, af->path) != 0) e = errno;
    if (e) {
        unlink(af->tmp_path);
        err_set("%s: write failed: %s", af->path, strerror(e));
        af_clear(af);
        return -1;
    }
    af_clear(af);
    return 0;
}

void fileio_abort(AtomicFile *af) {
    if (af->f) fclose(af->f);
    if (af->tmp_path) unlink(af->tmp_path);
    af_clear(af);
}

int fileio_write_all(const char *path, const void *data, size_t len) {
    AtomicFile af;
    if (fileio_begin(&af, path)) return -1;
    errno = 0;
    if (len && fwrite(data, 1, len, af.f) != len) {
        int e = errno ? errno : EIO;
        fileio_abort(&af);
        return err_set("%s: write failed: %s", path, strerror(e));
    }
    return fileio_commit(&af);
}

int fileio_read_all(const char *path, size_t max_len, char **data, size_t *len) {
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return err_set("%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return err_set("%s: not a regular file", path);
    }
    if ((unsigned long long)st.st_size > max_len) {
        fclose(f);
        return err_set("%s: file is %lld bytes, more than the %zu this reader accepts", path,
                       (long long)st.st_size, max_len);
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return err_set("%s: out of memory reading %zu bytes", path, n);
    }
    size_t got = fread(buf, 1, n, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || got != n) {
        free(buf);
        return err_set("%s: read error (got %zu of %zu bytes)", path, got, n);
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}

int fileio_mkdirs(const char *dir) {
    char tmp[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof tmp) return err_set("%s: bad folder name", dir);
    memcpy(tmp, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] == '/' || tmp[i] == '\0') {
            char c = tmp[i];
            tmp[i] = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
                return err_set("%s: cannot create folder: %s", tmp, strerror(errno));
            tmp[i] = c;
        }
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) return err_set("%s: not a folder", dir);
    return 0;
}
