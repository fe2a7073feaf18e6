// MPI for Swift: the few handles LoopLM uses. Open MPI defines MPI_COMM_WORLD, MPI_FLOAT and
// the like as casts of global addresses, which Swift cannot import as macros, so they are
// returned by inline functions instead.
#include <mpi.h>

static inline MPI_Comm looplm_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype looplm_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype looplm_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype looplm_mpi_long_long(void) { return MPI_LONG_LONG; }
static inline MPI_Op looplm_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op looplm_mpi_max(void) { return MPI_MAX; }
static inline void *looplm_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Errhandler looplm_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline int looplm_mpi_success(void) { return MPI_SUCCESS; }
static inline int looplm_mpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }
static inline int looplm_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
