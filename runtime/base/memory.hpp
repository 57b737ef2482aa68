#pragma once

/// Process-wide allocator settings for pqrt's streaming (blob blocks and ranges of 1 to 8 MiB).

#include <malloc.h>

namespace pqrt {

/// glibc raises its mmap threshold each time a large mmapped block is freed; later blocks then
/// come from the heap arenas of the threads that allocate them (cpprest's pool among them) and
/// fragment there, so the peak grows with the amount streamed (about 100 MiB for 300 MiB here).
/// A fixed threshold keeps every block of 1 MiB or more mmapped and returned on free: the peak
/// stays flat (about 16 MiB for 64 to 600 MiB). Called first thing by main (and by tests that
/// measure memory as pqrt would use it).
inline void tune_allocator() {
  mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
}

}  // namespace pqrt
