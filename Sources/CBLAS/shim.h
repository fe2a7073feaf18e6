// cblas.h from OpenBLAS (Debian: libopenblas-dev; pkg-config adds its include path).
#include <cblas.h>
