// bytes.h — byte order, for the file formats (safetensors and .npy are little-endian on disk;
// .npy may also be big-endian).
#ifndef MECHLAB_BYTES_H
#define MECHLAB_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline int host_is_le(void) {
    const uint16_t x = 1;
    unsigned char b;
    memcpy(&b, &x, 1);
    return b == 1;
}

// Reverses the bytes of each of `count` elements of `size` bytes at p.
static inline void swap_bytes(void *p, size_t count, size_t size) {
    unsigned char *c = p;
    for (size_t i = 0; i < count; i++, c += size)
        for (size_t a = 0, b = size - 1; a < b; a++, b--) {
            unsigned char t = c[a];
            c[a] = c[b];
            c[b] = t;
        }
}

#endif
