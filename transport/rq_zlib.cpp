#include "transport/rq_zlib.hpp"

#include <algorithm>
#include <cstdint>

#include <zlib.h>

#include "runtime/base/error.hpp"

namespace pqrt::transport {

namespace {

Bytef* in_ptr(std::string_view data) {
  return reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
}

/// Appends `n` bytes to `out`, growing its capacity by doubling but never past `max_size`, so
/// that a bomb costs at most `max_size` bytes of memory. (A plain append, or a reserve on a grown
/// string, may double past it; a fresh string's reserve is exact.)
bool append_capped(std::string& out, const char* data, size_t n, size_t max_size) {
  if (n > max_size - out.size()) return false;
  if (out.size() + n > out.capacity()) {
    std::string grown;
    grown.reserve(std::min(max_size, std::max(out.size() + n, 2 * out.capacity())));
    grown.append(out);
    out.swap(grown);
  }
  out.append(data, n);
  return true;
}

/// Inflates one stream into `out`: Z_STREAM_END, Z_MEM_ERROR past `max_size`, or another error.
int inflate_all(z_stream& stream, std::string& out, size_t max_size) {
  char chunk[16384];
  int rc = Z_OK;
  do {
    stream.next_out = reinterpret_cast<Bytef*>(chunk);
    stream.avail_out = sizeof chunk;
    rc = inflate(&stream, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) return rc;
    if (!append_capped(out, chunk, sizeof chunk - stream.avail_out, max_size)) return Z_MEM_ERROR;
  } while (rc == Z_OK && (stream.avail_in > 0 || stream.avail_out == 0));
  return rc == Z_OK ? Z_BUF_ERROR : rc;  // input used up before the end of the stream
}

}  // namespace

std::string zlib_compress(std::string_view data) {
  // deflateInit allocates and clears ~256 KiB of state: once per thread, then deflateReset per
  // call (bulk enqueue spent half its time there). Same settings, same bytes as compress2.
  struct deflater {
    z_stream stream{};
    bool ready = deflateInit(&stream, Z_DEFAULT_COMPRESSION) == Z_OK;
    ~deflater() {
      if (ready) deflateEnd(&stream);
    }
  };
  thread_local deflater d;
  uLongf size = compressBound(static_cast<uLong>(data.size()));
  std::string out(size, '\0');
  if (!d.ready || data.size() > UINT32_MAX || deflateReset(&d.stream) != Z_OK) {
    compress2(reinterpret_cast<Bytef*>(out.data()), &size, in_ptr(data),
              static_cast<uLong>(data.size()), Z_DEFAULT_COMPRESSION);
    out.resize(size);
    return out;
  }
  d.stream.next_in = in_ptr(data);
  d.stream.avail_in = static_cast<uInt>(data.size());
  d.stream.next_out = reinterpret_cast<Bytef*>(out.data());
  d.stream.avail_out = static_cast<uInt>(size);
  deflate(&d.stream, Z_FINISH);
  out.resize(d.stream.total_out);
  return out;
}

caf::expected<std::string> zlib_decompress(std::string_view data, size_t max_size) {
  if (data.size() > UINT32_MAX) return make_error(errc::unsupported, "zlib: input over 4 GiB");
  z_stream stream{};
  if (inflateInit(&stream) != Z_OK) return make_error(errc::bad_format, "zlib: init failed");
  stream.next_in = in_ptr(data);
  stream.avail_in = static_cast<uInt>(data.size());
  std::string out;
  int rc = inflate_all(stream, out, max_size);
  std::string msg = stream.msg != nullptr ? stream.msg : "incomplete or truncated stream";
  inflateEnd(&stream);
  if (rc == Z_STREAM_END) return out;
  if (rc == Z_MEM_ERROR)
    return make_error(errc::unsupported,
                      "zlib: output exceeds " + std::to_string(max_size) + " bytes");
  return make_error(errc::bad_format, "zlib: " + msg);
}

}  // namespace pqrt::transport
