// The local storage: blob containers and queues in a directory (see local_storage.hpp).
#include "transport/local_storage.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <utility>

#include "runtime/base/error.hpp"

namespace pqrt::transport {

namespace {

// --- errors and file descriptors ------------------------------------------------------------

caf::error sys_error(const char* what, const std::string& path, int err) {
  return make_error(errc::io_error, std::string{what} + " " + path + ": " + std::strerror(err));
}

class unique_fd {
public:
  unique_fd() = default;
  explicit unique_fd(int fd) : fd_(fd) {}
  unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() { reset(); }

  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  /// Closes, reporting the error (a write-back failure of a file just written).
  caf::error close(const std::string& path) {
    int fd = std::exchange(fd_, -1);
    if (fd >= 0 && ::close(fd) != 0 && errno != EINTR) return sys_error("close", path, errno);
    return {};
  }

private:
  int fd_ = -1;
};

unique_fd open_fd(const std::string& path, int flags, mode_t mode = 0666) {
  for (;;) {
    int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
    if (fd >= 0 || errno != EINTR) return unique_fd{fd};
  }
}

caf::error lock_fd(int fd, int op, const std::string& path) {
  while (::flock(fd, op) != 0) {
    if (errno != EINTR) return sys_error("flock", path, errno);
  }
  return {};
}

caf::error write_all(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    auto n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error("write", path, errno);
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

caf::error pwrite_all(int fd, std::string_view bytes, uint64_t at, const std::string& path) {
  while (!bytes.empty()) {
    auto n = ::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(at));
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error("write", path, errno);
    }
    bytes.remove_prefix(static_cast<size_t>(n));
    at += static_cast<uint64_t>(n);
  }
  return {};
}

/// Reads up to `size` bytes at `at`; fewer only at the end of the file.
caf::expected<size_t> pread_full(int fd, char* buf, size_t size, uint64_t at,
                                 const std::string& path) {
  size_t got = 0;
  while (got < size) {
    auto n = ::pread(fd, buf + got, size - got, static_cast<off_t>(at + got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error("read", path, errno);
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  return got;
}

caf::error fsync_fd(int fd, const std::string& path) {
  if (::fsync(fd) != 0) return sys_error("fsync", path, errno);
  return {};
}

/// Makes a rename or a new file in `dir` durable.
caf::error fsync_dir(const std::string& dir) {
  auto fd = open_fd(dir, O_RDONLY | O_DIRECTORY);
  if (fd.get() < 0) return sys_error("open", dir, errno);
  return fsync_fd(fd.get(), dir);
}

std::string parent_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string{"."} : path.substr(0, slash);
}

/// `mkdir -p`; an existing directory is fine.
caf::error make_dirs(const std::string& path) {
  for (size_t at = 1; at <= path.size(); ++at) {
    if (at < path.size() && path[at] != '/') continue;
    auto part = path.substr(0, at);
    if (::mkdir(part.c_str(), 0777) != 0 && errno != EEXIST) return sys_error("mkdir", part, errno);
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return sys_error("stat", path, errno);
  if (!S_ISDIR(st.st_mode)) return sys_error("mkdir", path, ENOTDIR);
  return {};
}

// --- random tokens and unique names ---------------------------------------------------------

std::string to_hex(const unsigned char* bytes, size_t size) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (size_t i = 0; i < size; ++i)
    out.append({digits[bytes[i] >> 4], digits[bytes[i] & 15]});
  return out;
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// `size` random bytes as hex (getrandom; a clock-and-counter mix should it fail).
std::string random_token(size_t size) {
  std::string raw(size, '\0');
  size_t got = 0;
  while (got < size) {
    auto n = ::getrandom(raw.data() + got, size - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    got += static_cast<size_t>(n);
  }
  if (got < size) {
    static std::atomic<uint64_t> counter{0};
    uint64_t x = static_cast<uint64_t>(now_ns()) ^ (static_cast<uint64_t>(::getpid()) << 40) ^
                 (++counter * 0x9e3779b97f4a7c15ULL);
    for (size_t i = 0; i < size; ++i) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      raw[i] = static_cast<char>(x & 0xff);
    }
  }
  return to_hex(reinterpret_cast<const unsigned char*>(raw.data()), size);
}

/// A file being written in `<dir>/.tmp/` under a unique name: renamed into place once complete,
/// removed if dropped before.
class temp_file {
public:
  static caf::expected<temp_file> create(const std::string& dir) {
    auto tmp_dir = dir + "/.tmp";
    for (int attempt = 0; attempt < 100; ++attempt) {
      auto path = tmp_dir + "/" + std::to_string(::getpid()) + "-" + random_token(8);
      auto fd = open_fd(path, O_WRONLY | O_CREAT | O_EXCL);
      if (fd.get() >= 0) return temp_file{std::move(fd), std::move(path)};
      if (errno == ENOENT) {
        if (::mkdir(tmp_dir.c_str(), 0777) != 0 && errno != EEXIST)
          return sys_error("mkdir", tmp_dir, errno);
      } else if (errno != EEXIST) {
        return sys_error("create", path, errno);
      }
    }
    return make_error(errc::io_error, "no unique temporary file name in " + tmp_dir);
  }

  temp_file(temp_file&& other) noexcept
      : fd_(std::move(other.fd_)), path_(std::exchange(other.path_, {})) {}
  temp_file& operator=(temp_file&&) = delete;
  ~temp_file() { discard(); }

  const std::string& path() const { return path_; }
  caf::error write(std::string_view bytes) { return write_all(fd_.get(), bytes, path_); }
  /// Flushes to disk and closes; the file is complete and ready to be renamed.
  caf::error seal() {
    if (auto err = fsync_fd(fd_.get(), path_)) return err;
    return fd_.close(path_);
  }
  /// The file was renamed into place: nothing to remove any more.
  void release() { path_.clear(); }
  void discard() {
    fd_.reset();
    if (!path_.empty()) ::unlink(path_.c_str());
    path_.clear();
  }

private:
  temp_file(unique_fd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}

  unique_fd fd_;
  std::string path_;
};

// --- names ----------------------------------------------------------------------------------

bool valid_bucket_name(const std::string& name) {
  if (name.size() < 3 || name.size() > 63) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

caf::error check_bucket_name(const char* kind, const std::string& name) {
  if (valid_bucket_name(name)) return {};
  return make_error(errc::invalid_argument, std::string{"invalid "} + kind + " name '" + name +
                                                "': expected 3 to 63 of a-z, 0-9 and '-'");
}

/// The folder `dir` of the container or queue `name` (`kind`: "container" or "queue"), when the
/// name is valid and the folder exists; `not_found` naming it otherwise.
caf::expected<std::string> existing_bucket(const char* kind, const std::string& name,
                                           std::string dir) {
  if (auto err = check_bucket_name(kind, name)) return err;
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT && errno != ENOTDIR) return sys_error("stat", dir, errno);
  } else if (S_ISDIR(st.st_mode)) {
    return dir;
  }
  auto what = std::string{kind} == "container" ? "blob container " : "queue ";
  return make_error(errc::not_found, what + name + " not found (" + dir + ")");
}

caf::error check_blob_name(const std::string& name) {
  auto bad = [&](const char* why) {
    return make_error(errc::invalid_argument, "invalid blob name '" + name + "': " + why);
  };
  if (name.empty()) return bad("empty");
  if (name.size() > 1024) return bad("longer than 1024 bytes");
  if (name.front() == '/') return bad("starts with '/'");
  if (name.back() == '/') return bad("ends with '/'");
  if (name.find("..") != std::string::npos) return bad("contains \"..\"");
  if (name.find('\0') != std::string::npos) return bad("contains a NUL byte");
  size_t begin = 0;
  for (;;) {
    auto end = std::min(name.find('/', begin), name.size());
    auto segment = std::string_view{name}.substr(begin, end - begin);
    if (segment.empty()) return bad("has an empty segment (\"//\")");
    if (segment == ".") return bad("has a segment \".\"");
    if (segment.size() > 255) return bad("has a segment longer than 255 bytes");
    if (begin == 0 && segment == ".tmp") return bad("starts with \".tmp\" (reserved)");
    if (end == name.size()) return {};
    begin = end + 1;
  }
}

// --- blobs ----------------------------------------------------------------------------------

class local_blob_reader : public blob_reader {
public:
  static constexpr size_t buffer_size = 256 * 1024;

  local_blob_reader(unique_fd fd, std::string path, uint64_t size, uint64_t offset)
      : fd_(std::move(fd)), path_(std::move(path)), size_(size), next_(offset) {}

  caf::expected<std::string> read(size_t max) override {
    if (max == 0) return make_error(errc::invalid_argument, "read of 0 bytes from " + path_);
    if (begin_ == end_) {
      if (next_ >= size_) return std::string{};
      if (buffer_.empty()) buffer_.resize(buffer_size);
      auto want = static_cast<size_t>(std::min<uint64_t>(buffer_size, size_ - next_));
      auto got = pread_full(fd_.get(), buffer_.data(), want, next_, path_);
      if (!got) return got.error();
      if (*got < want)
        return make_error(errc::io_error, "blob " + path_ + " ended at " +
                                              std::to_string(next_ + *got) + " before its size " +
                                              std::to_string(size_));
      next_ += want;
      begin_ = 0;
      end_ = want;
    }
    auto take = std::min(max, end_ - begin_);
    std::string out{buffer_.data() + begin_, take};
    begin_ += take;
    return out;
  }

  uint64_t size() const override { return size_; }

private:
  unique_fd fd_;
  std::string path_;
  uint64_t size_;
  uint64_t next_;  ///< the file offset after the buffered bytes
  std::string buffer_;
  size_t begin_ = 0;
  size_t end_ = 0;
};

class local_blob_store : public blob_store {
public:
  explicit local_blob_store(std::string root) : root_(std::move(root)) {}

  caf::error create_container(const std::string& container) override {
    if (auto err = check_bucket_name("container", container)) return err;
    return make_dirs(dir_of(container) + "/.tmp");
  }

  caf::error put(const std::string& container, const std::string& name,
                 std::string_view bytes) override {
    auto dir = checked(container, name);
    if (!dir) return dir.error();
    auto tmp = temp_file::create(*dir);
    if (!tmp) return tmp.error();
    if (auto err = tmp->write(bytes)) return err;
    if (auto err = tmp->seal()) return err;
    return install(*tmp, *dir, container, name);
  }

  caf::expected<std::unique_ptr<blob_writer>> open_write(const std::string& container,
                                                         const std::string& name) override;

  caf::expected<std::unique_ptr<blob_reader>> open_read(const std::string& container,
                                                        const std::string& name,
                                                        uint64_t offset) override {
    auto dir = checked(container, name);
    if (!dir) return dir.error();
    auto path = *dir + "/" + name;
    uint64_t size = 0;
    auto fd = open_blob(container, name, path, size);
    if (!fd) return fd.error();
    if (offset > size)
      return make_error(errc::invalid_argument, "blob " + container + "/" + name + ": offset " +
                                                    std::to_string(offset) + " past its size " +
                                                    std::to_string(size));
    return std::unique_ptr<blob_reader>{
        new local_blob_reader(std::move(*fd), std::move(path), size, offset)};
  }

  caf::expected<std::string> get(const std::string& container, const std::string& name) override {
    auto dir = checked(container, name);
    if (!dir) return dir.error();
    auto path = *dir + "/" + name;
    uint64_t size = 0;
    auto fd = open_blob(container, name, path, size);
    if (!fd) return fd.error();
    std::string out(static_cast<size_t>(size), '\0');
    auto got = pread_full(fd->get(), out.data(), out.size(), 0, path);
    if (!got) return got.error();
    out.resize(*got);
    return out;
  }

  caf::expected<std::vector<blob_item>> list(const std::string& container,
                                             const std::string& prefix) override {
    auto dir = existing_container(container);
    if (!dir) return dir.error();
    std::vector<blob_item> out;
    auto fd = open_fd(*dir, O_RDONLY | O_DIRECTORY);
    if (fd.get() < 0) return sys_error("open", *dir, errno);
    if (auto err = walk(std::move(fd), *dir, std::string{}, prefix, out)) return err;
    std::sort(out.begin(), out.end(),
              [](const blob_item& a, const blob_item& b) { return a.name < b.name; });
    return out;
  }

  caf::error create_append(const std::string& container, const std::string& name) override {
    auto dir = checked(container, name);
    if (!dir) return dir.error();
    auto path = *dir + "/" + name;
    if (auto err = make_parents(*dir, container, name)) return err;
    auto fd = open_fd(path, O_WRONLY | O_CREAT | O_EXCL);
    if (fd.get() >= 0) {
      if (auto err = fsync_fd(fd.get(), path)) return err;
      return fsync_dir(parent_of(path));
    }
    int err = errno;
    if (err == EEXIST) {
      struct stat st {};
      if (::stat(path.c_str(), &st) != 0) return sys_error("stat", path, errno);
      return S_ISREG(st.st_mode) ? caf::error{} : clash(container, name, path);
    }
    if (err == ENOTDIR) return clash(container, name, path);
    return gone_or(container, sys_error("create", path, err));
  }

  caf::error append(const std::string& container, const std::string& name, std::string_view bytes,
                    uint64_t position) override {
    auto dir = checked(container, name);
    if (!dir) return dir.error();
    auto path = *dir + "/" + name;
    for (int attempt = 0;; ++attempt) {
      auto fd = open_fd(path, O_WRONLY);
      if (fd.get() < 0) {
        if (errno == ENOENT || errno == ENOTDIR || errno == EISDIR) return missing(container, name);
        return sys_error("open", path, errno);
      }
      if (auto err = lock_fd(fd.get(), LOCK_EX, path)) return err;
      struct stat st {};
      if (::fstat(fd.get(), &st) != 0) return sys_error("stat", path, errno);
      // The name may have been replaced (put) since the open: append to what it names now,
      // never to an orphaned file.
      struct stat now {};
      if (::stat(path.c_str(), &now) != 0 || now.st_ino != st.st_ino || now.st_dev != st.st_dev) {
        if (attempt < 100) continue;
        return make_error(errc::io_error, "append to blob " + container + "/" + name +
                                              ": replaced during every try (" + path + ")");
      }
      auto actual = static_cast<uint64_t>(st.st_size);
      if (actual != position)
        return make_error(errc::conflict, "append to blob " + container + "/" + name +
                                              ": expected position " + std::to_string(position) +
                                              ", actual size " + std::to_string(actual));
      if (auto err = pwrite_all(fd.get(), bytes, position, path)) {
        // All or nothing: cut a partial append off again.
        if (::ftruncate(fd.get(), static_cast<off_t>(position)) != 0) {
          // Nothing more to do; the error below says the append failed.
        }
        return err;
      }
      return fsync_fd(fd.get(), path);  // closing the file releases the lock
    }
  }

  std::string describe() const override { return "local storage " + root_; }

  /// Renames a sealed temporary file to the blob `name`, making its folders first.
  caf::error install(temp_file& tmp, const std::string& dir, const std::string& container,
                     const std::string& name) {
    auto path = dir + "/" + name;
    if (auto err = make_parents(dir, container, name)) return err;
    if (::rename(tmp.path().c_str(), path.c_str()) != 0) {
      int err = errno;
      if (err == EISDIR || err == ENOTDIR || err == ENOTEMPTY || err == EEXIST)
        return clash(container, name, path);
      return gone_or(container, sys_error("rename to", path, err));
    }
    tmp.release();
    return fsync_dir(parent_of(path));
  }

  /// Validates both names; the container's directory when it exists.
  caf::expected<std::string> checked(const std::string& container, const std::string& name) {
    auto dir = existing_container(container);
    if (!dir) return dir.error();
    if (auto err = check_blob_name(name)) return err;
    return dir;
  }

private:
  std::string dir_of(const std::string& container) const { return root_ + "/blobs/" + container; }

  caf::expected<std::string> existing_container(const std::string& container) const {
    return existing_bucket("container", container, dir_of(container));
  }

  /// `not_found` when the container vanished, `err` else.
  caf::error gone_or(const std::string& container, caf::error err) const {
    auto dir = existing_container(container);
    return dir ? std::move(err) : dir.error();
  }

  static caf::error missing(const std::string& container, const std::string& name) {
    return make_error(errc::not_found, "blob " + container + "/" + name + " not found");
  }

  static caf::error clash(const std::string& container, const std::string& name,
                          const std::string& path) {
    return make_error(errc::conflict, "blob " + container + "/" + name +
                                          ": the name is also a folder, or a folder in it a blob, "
                                          "which a local store cannot hold (" +
                                          path + ")");
  }

  /// Opens a blob for reading; `size` is its size now.
  caf::expected<unique_fd> open_blob(const std::string& container, const std::string& name,
                                     const std::string& path, uint64_t& size) const {
    auto fd = open_fd(path, O_RDONLY);
    if (fd.get() < 0) {
      if (errno == ENOENT || errno == ENOTDIR) return missing(container, name);
      return sys_error("open", path, errno);
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return sys_error("stat", path, errno);
    if (!S_ISREG(st.st_mode)) return missing(container, name);
    size = static_cast<uint64_t>(st.st_size);
    return fd;
  }

  /// The folders of a blob name below the container's directory.
  caf::error make_parents(const std::string& dir, const std::string& container,
                          const std::string& name) const {
    for (auto slash = name.find('/'); slash != std::string::npos;
         slash = name.find('/', slash + 1)) {
      auto part = dir + "/" + name.substr(0, slash);
      if (::mkdir(part.c_str(), 0777) == 0) continue;
      int err = errno;
      if (err == EEXIST) {
        struct stat st {};
        if (::stat(part.c_str(), &st) != 0) return sys_error("stat", part, errno);
        if (S_ISDIR(st.st_mode)) continue;
        return clash(container, name, part);
      }
      if (err == ENOTDIR) return clash(container, name, part);
      return gone_or(container, sys_error("mkdir", part, err));
    }
    return {};
  }

  /// Collects the blobs below the open directory `fd` (the folder `rel`) starting with `prefix`.
  static caf::error walk(unique_fd fd, const std::string& path, const std::string& rel,
                         const std::string& prefix, std::vector<blob_item>& out) {
    DIR* dir = ::fdopendir(fd.get());
    if (dir == nullptr) return sys_error("opendir", path, errno);
    int dfd = fd.release();  // the DIR owns it now
    std::unique_ptr<DIR, int (*)(DIR*)> guard{dir, &::closedir};
    for (;;) {
      errno = 0;
      auto* entry = ::readdir(dir);
      if (entry == nullptr) {
        if (errno != 0) return sys_error("readdir", path, errno);
        return {};
      }
      std::string leaf = entry->d_name;
      if (leaf == "." || leaf == "..") continue;
      if (rel.empty() && leaf == ".tmp") continue;
      auto child = rel.empty() ? leaf : rel + "/" + leaf;
      struct stat st {};
      if (::fstatat(dfd, leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;  // removed while listing
        return sys_error("stat", path + "/" + leaf, errno);
      }
      if (S_ISREG(st.st_mode)) {
        if (child.compare(0, prefix.size(), prefix) == 0)
          out.push_back({std::move(child), static_cast<uint64_t>(st.st_size)});
      } else if (S_ISDIR(st.st_mode)) {
        // Only folders that can hold names with the prefix.
        auto folder = child + "/";
        auto common = std::min(folder.size(), prefix.size());
        if (folder.compare(0, common, prefix, 0, common) != 0) continue;
        unique_fd sub{::openat(dfd, leaf.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)};
        if (sub.get() < 0) {
          if (errno == ENOENT) continue;
          return sys_error("open", path + "/" + leaf, errno);
        }
        if (auto err = walk(std::move(sub), path + "/" + leaf, child, prefix, out)) return err;
      }
    }
  }

  std::string root_;
};

/// A streamed write into a temporary file; it holds its own copy of the store (a root path), so
/// it may outlive the store that opened it.
class local_blob_writer : public blob_writer {
public:
  local_blob_writer(local_blob_store store, temp_file tmp, std::string container, std::string name)
      : store_(std::move(store)),
        tmp_(std::move(tmp)),
        container_(std::move(container)),
        name_(std::move(name)) {}

  caf::error write(std::string_view bytes) override;
  caf::error commit() override;

private:
  local_blob_store store_;
  temp_file tmp_;
  std::string container_;
  std::string name_;
  bool done_ = false;
  bool failed_ = false;
};

caf::expected<std::unique_ptr<blob_writer>> local_blob_store::open_write(
    const std::string& container, const std::string& name) {
  auto dir = checked(container, name);
  if (!dir) return dir.error();
  auto tmp = temp_file::create(*dir);
  if (!tmp) return tmp.error();
  return std::unique_ptr<blob_writer>{
      new local_blob_writer(*this, std::move(*tmp), container, name)};
}

caf::error local_blob_writer::write(std::string_view bytes) {
  if (done_)
    return make_error(errc::invalid_argument,
                      "blob " + container_ + "/" + name_ + ": write after commit");
  if (failed_)
    return make_error(errc::io_error,
                      "blob " + container_ + "/" + name_ + ": an earlier write failed");
  if (auto err = tmp_.write(bytes)) {
    failed_ = true;
    return err;
  }
  return {};
}

caf::error local_blob_writer::commit() {
  if (done_)
    return make_error(errc::invalid_argument,
                      "blob " + container_ + "/" + name_ + ": committed twice");
  done_ = true;
  if (failed_) {
    tmp_.discard();
    return make_error(errc::io_error, "blob " + container_ + "/" + name_ +
                                          ": an earlier write failed, nothing committed");
  }
  auto dir = store_.checked(container_, name_);
  if (!dir) return dir.error();
  if (auto err = tmp_.seal()) return err;
  if (auto err = store_.install(tmp_, *dir, container_, name_)) return err;
  return {};
}

// --- queues ---------------------------------------------------------------------------------

/// A message file holds the message's text, nothing else.
constexpr std::string_view message_suffix = ".msg";

/// Message ids: zero-padded wall-clock nanoseconds (strictly increasing within a process), the
/// process id and a counter, so names sort in the order of their `put` across processes.
std::string next_message_id() {
  static std::mutex mtx;
  static int64_t last = 0;
  static uint64_t counter = 0;
  std::lock_guard<std::mutex> guard{mtx};
  auto now = std::max(now_ns(), last + 1);
  last = now;
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%020lld-%010ld-%010llu", static_cast<long long>(now),
                static_cast<long>(::getpid()), static_cast<unsigned long long>(++counter));
  return buf;
}

class local_queue_store : public queue_store {
public:
  explicit local_queue_store(std::string root) : root_(std::move(root)) {}

  caf::error create_queue(const std::string& queue) override {
    if (auto err = check_bucket_name("queue", queue)) return err;
    return make_dirs(dir_of(queue) + "/.tmp");
  }

  caf::error put(const std::string& queue, std::string_view text) override {
    if (auto err = check_bucket_name("queue", queue)) return err;
    if (text.size() > max_message_bytes)
      return make_error(errc::too_large,
                        "queue " + queue + ": message of " + std::to_string(text.size()) +
                            " bytes over the limit of " + std::to_string(max_message_bytes));
    auto dir = existing_queue(queue);
    if (!dir) return dir.error();
    auto tmp = temp_file::create(*dir);
    if (!tmp) return tmp.error();
    if (auto err = tmp->write(text)) return err;
    if (auto err = tmp->seal()) return err;
    auto path = *dir + "/" + next_message_id() + std::string{message_suffix};
    if (::rename(tmp->path().c_str(), path.c_str()) != 0) {
      if (errno == ENOENT) return missing_queue(queue);
      return sys_error("rename to", path, errno);
    }
    tmp->release();
    return fsync_dir(*dir);
  }

  caf::expected<std::vector<queue_message>> peek(const std::string& queue, size_t max) override {
    if (auto err = check_queue_take(queue, max)) return err;
    auto dir = existing_queue(queue);
    if (!dir) return dir.error();
    auto names = message_files(*dir);
    if (!names) return names.error();
    std::vector<queue_message> out;
    for (auto& file : *names) {
      if (out.size() >= max) break;
      queue_message msg;
      auto text = read_message(*dir + "/" + file);
      if (!text) return text.error();
      msg.id = file.substr(0, file.size() - message_suffix.size());
      msg.text = std::move(*text);
      out.push_back(std::move(msg));
    }
    return out;
  }

  std::string describe() const override { return "local storage " + root_; }

private:
  std::string dir_of(const std::string& queue) const { return root_ + "/queues/" + queue; }

  static caf::error missing_queue(const std::string& queue) {
    return make_error(errc::not_found, "queue " + queue + " not found");
  }

  caf::expected<std::string> existing_queue(const std::string& queue) const {
    return existing_bucket("queue", queue, dir_of(queue));
  }

  /// The message files of a queue, oldest first.
  static caf::expected<std::vector<std::string>> message_files(const std::string& dir) {
    std::unique_ptr<DIR, int (*)(DIR*)> handle{::opendir(dir.c_str()), &::closedir};
    if (!handle) return sys_error("opendir", dir, errno);
    std::vector<std::string> out;
    for (;;) {
      errno = 0;
      auto* entry = ::readdir(handle.get());
      if (entry == nullptr) {
        if (errno != 0) return sys_error("readdir", dir, errno);
        break;
      }
      std::string_view leaf = entry->d_name;
      if (leaf.empty() || leaf.front() == '.' || leaf.size() <= message_suffix.size() ||
          leaf.substr(leaf.size() - message_suffix.size()) != message_suffix)
        continue;
      out.emplace_back(leaf);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  /// A message's text: the whole file.
  static caf::expected<std::string> read_message(const std::string& path) {
    auto fd = open_fd(path, O_RDONLY);
    if (fd.get() < 0) return sys_error("open", path, errno);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return sys_error("stat", path, errno);
    std::string text(static_cast<size_t>(st.st_size), '\0');
    auto got = pread_full(fd.get(), text.data(), text.size(), 0, path);
    if (!got) return got.error();
    if (*got != text.size())
      return make_error(errc::io_error, "queue message " + path + ": truncated");
    return text;
  }

  std::string root_;
};

}  // namespace

std::unique_ptr<blob_store> make_local_blob_store(std::string root) {
  if (root.empty()) root = ".";
  return std::make_unique<local_blob_store>(std::move(root));
}

std::unique_ptr<queue_store> make_local_queue_store(std::string root) {
  if (root.empty()) root = ".";
  return std::make_unique<local_queue_store>(std::move(root));
}

}  // namespace pqrt::transport
