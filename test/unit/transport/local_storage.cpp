// transport/local_storage: blobs and queues in a directory: atomic writes, streamed reads,
// listings, names, appends from several processes, queue order (puts from several processes).
#include "transport/local_storage.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "runtime/base/error.hpp"

namespace fs = std::filesystem;
using namespace pqrt::transport;
using pqrt::errc;

namespace {

/// A fresh directory, removed with everything in it.
struct temp_root {
  temp_root() {
    auto tmpl = (fs::temp_directory_path() / "pqrt-storage-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~temp_root() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  temp_root(const temp_root&) = delete;
  temp_root& operator=(const temp_root&) = delete;

  std::string path;
};

std::string why(const caf::error& err) {
  return err ? pqrt::render(err) : std::string{};
}

template <class T>
std::string why(const caf::expected<T>& x) {
  return x ? std::string{} : pqrt::render(x.error());
}

template <class T>
caf::error error_of(const caf::expected<T>& x) {
  return x ? caf::error{} : x.error();
}

/// Checks that `err` has the code and its context mentions `needle`.
void check_error(const caf::error& err, errc code, const std::string& needle) {
  REQUIRE_MESSAGE(err, "expected ", pqrt::to_string(code), " naming ", needle);
  CHECK_MESSAGE(pqrt::is(err, code), why(err));
  CHECK_MESSAGE(pqrt::context_of(err).find(needle) != std::string::npos, why(err));
}

/// Deterministic bytes covering every value.
std::string pattern(size_t size, uint32_t seed = 1) {
  std::string out(size, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < size; ++i) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    out[i] = static_cast<char>(i < 256 ? i : (x & 0xff));
  }
  return out;
}

std::vector<std::string> names_of(const std::vector<blob_item>& items) {
  std::vector<std::string> out;
  for (auto& item : items)
    out.push_back(item.name);
  return out;
}

size_t files_in(const std::string& dir) {
  size_t n = 0;
  for (auto& entry : fs::recursive_directory_iterator(dir))
    if (entry.is_regular_file()) ++n;
  return n;
}

struct blob_setup {
  blob_setup() : store(make_local_blob_store(root.path)) {
    REQUIRE(!store->create_container("data"));
  }
  std::string container_dir() const { return root.path + "/blobs/data"; }

  temp_root root;
  std::unique_ptr<blob_store> store;
};

struct queue_setup {
  queue_setup() : store(make_local_queue_store(root.path)) {
    REQUIRE(!store->create_queue("jobs"));
  }

  temp_root root;
  std::unique_ptr<queue_store> store;
};

std::vector<queue_message> peek(queue_store& store, size_t max) {
  auto got = store.peek("jobs", max);
  REQUIRE_MESSAGE(got, why(got));
  return *got;
}

/// The size of the blob `name` as listed; nullopt when there is none.
std::optional<uint64_t> listed_size(blob_store& store, const std::string& name) {
  auto listed = store.list("data", name);
  REQUIRE_MESSAGE(listed, why(listed));
  for (auto& item : *listed)
    if (item.name == name) return item.size;
  return std::nullopt;
}

/// Runs `body` in `n` child processes (passing each its index) and checks they all exit 0.
template <class F>
void in_processes(int n, F body) {
  std::vector<pid_t> children;
  for (int k = 0; k < n; ++k) {
    auto pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) ::_exit(body(k));
    children.push_back(pid);
  }
  for (auto pid : children) {
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
}

}  // namespace

// --- blobs ----------------------------------------------------------------------------------

TEST_CASE("put and get round-trip binary bytes under nested names") {
  blob_setup s;
  auto bytes = pattern(4096);
  REQUIRE(bytes.find('\0') != std::string::npos);
  REQUIRE_MESSAGE(!s.store->put("data", "runs/r1/part-0.bin", bytes), "");
  auto back = s.store->get("data", "runs/r1/part-0.bin");
  REQUIRE_MESSAGE(back, why(back));
  CHECK(*back == bytes);
  CHECK(fs::is_regular_file(s.container_dir() + "/runs/r1/part-0.bin"));
  CHECK(listed_size(*s.store, "runs/r1/part-0.bin") == std::optional<uint64_t>{4096});

  REQUIRE(!s.store->put("data", "empty", ""));
  auto empty = s.store->get("data", "empty");
  REQUIRE(empty);
  CHECK(empty->empty());
  CHECK(listed_size(*s.store, "empty") == std::optional<uint64_t>{0});
}

TEST_CASE("put replaces a blob atomically: a reader opened before keeps the old bytes") {
  blob_setup s;
  auto first = pattern(300000, 1);
  auto second = pattern(1000, 2);
  REQUIRE(!s.store->put("data", "x", first));
  auto reader = s.store->open_read("data", "x", 0);
  REQUIRE_MESSAGE(reader, why(reader));
  REQUIRE(!s.store->put("data", "x", second));
  CHECK(*s.store->get("data", "x") == second);
  // An in-place rewrite would show the reader the new (shorter) bytes.
  std::string old;
  for (;;) {
    auto piece = (*reader)->read(70000);
    REQUIRE_MESSAGE(piece, why(piece));
    if (piece->empty()) break;
    old += *piece;
  }
  CHECK(old == first);
  CHECK(files_in(s.container_dir()) == 1);  // no temporary files left
}

TEST_CASE("a writer destroyed without commit leaves nothing behind") {
  blob_setup s;
  REQUIRE(!s.store->put("data", "kept", "old"));
  {
    auto writer = s.store->open_write("data", "kept");
    REQUIRE_MESSAGE(writer, why(writer));
    REQUIRE(!(*writer)->write("new bytes that must never show"));
    auto other = s.store->open_write("data", "dir/fresh");
    REQUIRE(other);
    REQUIRE(!(*other)->write(pattern(100000)));
    // Not visible while being written either.
    CHECK(*s.store->get("data", "kept") == "old");
    check_error(error_of(s.store->get("data", "dir/fresh")), errc::not_found, "data/dir/fresh");
    CHECK(names_of(*s.store->list("data", "")) == std::vector<std::string>{"kept"});
    CHECK(files_in(s.container_dir()) == 3);
  }
  CHECK(*s.store->get("data", "kept") == "old");
  check_error(error_of(s.store->get("data", "dir/fresh")), errc::not_found, "data/dir/fresh");
  CHECK(names_of(*s.store->list("data", "")) == std::vector<std::string>{"kept"});
  CHECK(files_in(s.container_dir()) == 1);
}

TEST_CASE("streamed write and offset reads of 5 MiB") {
  blob_setup s;
  auto bytes = pattern(5 * 1024 * 1024 + 123, 7);
  auto writer = s.store->open_write("data", "big/blob.enc");
  REQUIRE_MESSAGE(writer, why(writer));
  std::vector<size_t> pieces{1, 7, 65536, 1024 * 1024 + 3, 4095, 300000};
  for (size_t at = 0, i = 0; at < bytes.size(); ++i) {
    auto take = std::min(pieces[i % pieces.size()], bytes.size() - at);
    REQUIRE(!(*writer)->write(std::string_view{bytes}.substr(at, take)));
    at += take;
  }
  CHECK_FALSE(listed_size(*s.store, "big/blob.enc").has_value());
  REQUIRE_MESSAGE(!(*writer)->commit(), "");
  check_error((*writer)->write("more"), errc::invalid_argument, "big/blob.enc");
  check_error((*writer)->commit(), errc::invalid_argument, "big/blob.enc");
  writer->reset();
  CHECK(listed_size(*s.store, "big/blob.enc") == std::optional<uint64_t>{bytes.size()});

  auto read_from = [&](uint64_t offset, size_t max) {
    auto reader = s.store->open_read("data", "big/blob.enc", offset);
    REQUIRE_MESSAGE(reader, why(reader));
    CHECK((*reader)->size() == bytes.size());
    std::string out;
    for (;;) {
      auto piece = (*reader)->read(max);
      REQUIRE_MESSAGE(piece, why(piece));
      if (piece->empty()) break;
      CHECK(piece->size() <= max);
      out += *piece;
    }
    auto again = (*reader)->read(max);
    REQUIRE(again);
    CHECK(again->empty());
    return out;
  };
  CHECK(read_from(0, 100000) == bytes);
  CHECK(read_from(0, 1000000000) == bytes);
  uint64_t offset = 3 * 1024 * 1024 + 17;
  CHECK(read_from(offset, 4097) == bytes.substr(offset));
  CHECK(read_from(bytes.size() - 1, 10) == bytes.substr(bytes.size() - 1));
  CHECK(read_from(bytes.size(), 10).empty());
  check_error(error_of(s.store->open_read("data", "big/blob.enc", bytes.size() + 1)),
              errc::invalid_argument, "big/blob.enc");
  check_error(error_of(s.store->open_read("data", "big/missing", 0)), errc::not_found,
              "data/big/missing");
}

TEST_CASE("a writer may outlive its store") {
  temp_root root;
  std::unique_ptr<blob_writer> writer;
  {
    auto store = make_local_blob_store(root.path);
    REQUIRE(!store->create_container("data"));
    auto w = store->open_write("data", "late");
    REQUIRE(w);
    writer = std::move(*w);
  }
  REQUIRE(!writer->write("late bytes"));
  REQUIRE(!writer->commit());
  CHECK(*make_local_blob_store(root.path)->get("data", "late") == "late bytes");
}

TEST_CASE("list is recursive, sorted, filtered by prefix, with sizes and no temp files") {
  blob_setup s;
  for (auto name : {"b", "a/2", "a/1", "a/10", "ab", "c/d/e", "c/d-x"})
    REQUIRE(!s.store->put("data", name, std::string(std::string_view{name}.size(), 'z')));
  REQUIRE(!s.store->put("data", "c/d/e", "longer than before"));
  auto pending = s.store->open_write("data", "a/3");
  REQUIRE(pending);
  REQUIRE(!(*pending)->write("uncommitted"));

  auto all = s.store->list("data", "");
  REQUIRE_MESSAGE(all, why(all));
  CHECK(names_of(*all) ==
        std::vector<std::string>{"a/1", "a/10", "a/2", "ab", "b", "c/d-x", "c/d/e"});
  CHECK((*all)[0].size == 3);
  CHECK((*all)[6].size == 18);
  CHECK(names_of(*s.store->list("data", "a/")) == std::vector<std::string>{"a/1", "a/10", "a/2"});
  CHECK(names_of(*s.store->list("data", "a")) ==
        std::vector<std::string>{"a/1", "a/10", "a/2", "ab"});
  CHECK(names_of(*s.store->list("data", "a/1")) == std::vector<std::string>{"a/1", "a/10"});
  CHECK(names_of(*s.store->list("data", "c/d")) == std::vector<std::string>{"c/d-x", "c/d/e"});
  CHECK(names_of(*s.store->list("data", "c/d/")) == std::vector<std::string>{"c/d/e"});
  CHECK(s.store->list("data", "zzz")->empty());
  CHECK(s.store->list("data", ".tmp")->empty());
  REQUIRE(!(*pending)->commit());
  CHECK(names_of(*s.store->list("data", "a/")) ==
        std::vector<std::string>{"a/1", "a/10", "a/2", "a/3"});
}

TEST_CASE("a folder is not a blob, and a name cannot be a blob and a folder at once") {
  blob_setup s;
  REQUIRE(!s.store->put("data", "deep/er/blob", "x"));
  check_error(error_of(s.store->get("data", "deep")), errc::not_found, "data/deep");
  check_error(error_of(s.store->open_read("data", "deep/er", 0)), errc::not_found, "data/deep/er");
  check_error(s.store->put("data", "deep", "y"), errc::conflict, "deep");
  check_error(s.store->put("data", "deep/er/blob/x", "y"), errc::conflict, "deep/er/blob/x");
  check_error(s.store->create_append("data", "deep/er"), errc::conflict, "deep/er");
  check_error(s.store->create_append("data", "deep/er/blob/x"), errc::conflict, "deep/er/blob/x");
  CHECK(names_of(*s.store->list("data", "")) == std::vector<std::string>{"deep/er/blob"});
  CHECK(*s.store->get("data", "deep/er/blob") == "x");
}

TEST_CASE("a missing container or blob is not_found, naming it") {
  blob_setup s;
  auto& st = *s.store;
  check_error(error_of(st.get("nope", "a")), errc::not_found, "nope");
  check_error(st.put("nope", "a", "x"), errc::not_found, "nope");
  check_error(error_of(st.list("nope", "")), errc::not_found, "nope");
  check_error(error_of(st.open_read("nope", "a", 0)), errc::not_found, "nope");
  check_error(error_of(st.open_write("nope", "a")), errc::not_found, "nope");
  check_error(st.create_append("nope", "a"), errc::not_found, "nope");
  check_error(st.append("nope", "a", "x", 0), errc::not_found, "nope");
  CHECK(!fs::exists(s.root.path + "/blobs/nope"));
  check_error(error_of(st.get("data", "missing/blob")), errc::not_found, "data/missing/blob");
  check_error(st.append("data", "missing", "x", 0), errc::not_found, "data/missing");
  REQUIRE(!st.create_container("data"));  // an existing one is fine
  REQUIRE(!st.create_container("nope"));
  CHECK(st.list("nope", "")->empty());
}

TEST_CASE("bad container, blob and queue names are invalid_argument, naming them") {
  blob_setup s;
  auto queues = make_local_queue_store(s.root.path);
  auto too_long = std::string(64, 'a');
  for (std::string bad :
       std::vector<std::string>{"ab", "Data", "a_b", "dat a", "", "a/b", too_long}) {
    CAPTURE(bad);
    check_error(s.store->create_container(bad), errc::invalid_argument, "'" + bad + "'");
    check_error(s.store->put(bad, "x", "y"), errc::invalid_argument, "'" + bad + "'");
    check_error(queues->create_queue(bad), errc::invalid_argument, "'" + bad + "'");
    check_error(queues->put(bad, "y"), errc::invalid_argument, "'" + bad + "'");
  }
  CHECK(!s.store->create_container("abc"));
  CHECK(!s.store->create_container(std::string(63, 'z')));
  CHECK(!s.store->create_container("0-9"));
  for (std::string bad :
       std::vector<std::string>{"", "/abs", "a/../b", "..", "x..y", "a//b", "a/", "./a", "a/./b",
                                ".tmp/x", ".tmp", std::string(1025, 'n')}) {
    CAPTURE(bad);
    check_error(s.store->put("data", bad, "y"), errc::invalid_argument, "'" + bad + "'");
    check_error(error_of(s.store->get("data", bad)), errc::invalid_argument, "'" + bad + "'");
    check_error(s.store->append("data", bad, "y", 0), errc::invalid_argument, "'" + bad + "'");
  }
  CHECK(files_in(s.root.path) == 0);
  CHECK(!s.store->put("data", ".hidden/x.tmp", "fine"));
  CHECK(*s.store->get("data", ".hidden/x.tmp") == "fine");
}

TEST_CASE("append only at the blob's current size") {
  blob_setup s;
  REQUIRE(!s.store->create_append("data", "logs/app.log"));
  CHECK(*s.store->get("data", "logs/app.log") == "");
  REQUIRE(!s.store->append("data", "logs/app.log", "abc", 0));
  REQUIRE(!s.store->append("data", "logs/app.log", "de", 3));
  CHECK(*s.store->get("data", "logs/app.log") == "abcde");

  auto err = s.store->append("data", "logs/app.log", "XX", 2);
  check_error(err, errc::conflict, "expected position 2");
  CHECK(pqrt::context_of(err).find("actual size 5") != std::string::npos);
  CHECK(pqrt::context_of(err).find("data/logs/app.log") != std::string::npos);
  check_error(s.store->append("data", "logs/app.log", "XX", 9), errc::conflict, "actual size 5");
  CHECK(*s.store->get("data", "logs/app.log") == "abcde");

  // A retried append whose first try landed.
  REQUIRE(!s.store->append("data", "logs/app.log", "fg", 5));
  check_error(s.store->append("data", "logs/app.log", "fg", 5), errc::conflict,
              "expected position 5");
  CHECK(*s.store->get("data", "logs/app.log") == "abcdefg");

  // create_append leaves an existing blob as it is.
  REQUIRE(!s.store->create_append("data", "logs/app.log"));
  CHECK(*s.store->get("data", "logs/app.log") == "abcdefg");
  auto binary = pattern(1000);
  REQUIRE(!s.store->append("data", "logs/app.log", binary, 7));
  CHECK(*s.store->get("data", "logs/app.log") == "abcdefg" + binary);
}

TEST_CASE("four processes appending with retry on conflict lose and duplicate nothing") {
  blob_setup s;
  REQUIRE(!s.store->create_append("data", "shared.log"));
  constexpr int processes = 4;
  constexpr int records = 200;
  constexpr size_t record_size = 25;  // "proc K record NNNNNNNNNN\n"
  auto root = s.root.path;
  in_processes(processes, [&](int k) {
    auto store = make_local_blob_store(root);
    for (int i = 0; i < records; ++i) {
      char record[64];
      auto n = std::snprintf(record, sizeof(record), "proc %d record %010d\n", k, i);
      if (n != static_cast<int>(record_size)) return 4;
      for (;;) {
        auto listed = store->list("data", "shared.log");
        if (!listed || listed->size() != 1) return 2;
        auto err = store->append("data", "shared.log", {record, record_size}, listed->front().size);
        if (!err) break;
        if (!pqrt::is(err, errc::conflict)) return 3;
      }
    }
    return 0;
  });
  auto all = s.store->get("data", "shared.log");
  REQUIRE(all);
  REQUIRE(all->size() == processes * records * record_size);
  std::vector<int> next(processes, 0);
  for (size_t at = 0; at < all->size(); at += record_size) {
    int k = -1;
    int i = -1;
    auto record = all->substr(at, record_size);
    REQUIRE_MESSAGE(std::sscanf(record.c_str(), "proc %d record %d\n", &k, &i) == 2, record);
    REQUIRE(k >= 0);
    REQUIRE(k < processes);
    CHECK(i == next[k]);  // each process's records in order, none twice, none lost
    next[k] = i + 1;
  }
  CHECK(next == std::vector<int>(processes, records));
}

TEST_CASE("describe names the root") {
  temp_root root;
  CHECK(make_local_blob_store(root.path)->describe() == "local storage " + root.path);
  CHECK(make_local_queue_store(root.path)->describe() == "local storage " + root.path);
}

// --- queues ---------------------------------------------------------------------------------

TEST_CASE("peek shows messages in put order, at most 32 at once, and takes nothing") {
  queue_setup s;
  for (int i = 0; i < 40; ++i)
    REQUIRE(!s.store->put("jobs", "m" + std::to_string(i)));

  auto first = peek(*s.store, 5);
  REQUIRE(first.size() == 5);
  for (int i = 0; i < 5; ++i) {
    CHECK(first[i].text == "m" + std::to_string(i));
    CHECK(first[i].dequeue_count == 0);
    CHECK(!first[i].id.empty());
    CHECK(first[i].pop_receipt.empty());
  }
  auto again = peek(*s.store, 32);
  REQUIRE(again.size() == 32);
  for (int i = 0; i < 32; ++i) {
    CHECK(again[i].text == "m" + std::to_string(i));
    if (i > 0) {
      CHECK(again[i - 1].id < again[i].id);
    }
  }
  CHECK(again[0].id == first[0].id);
  CHECK(again[4].id == first[4].id);
  CHECK(files_in(s.root.path + "/queues/jobs") == 40);

  for (size_t bad : {size_t{0}, size_t{33}})
    check_error(error_of(s.store->peek("jobs", bad)), errc::invalid_argument, "jobs");
}

TEST_CASE("messages up to 64 KiB; one byte more is too_large and writes nothing") {
  queue_setup s;
  auto limit = queue_store::max_message_bytes;
  CHECK(limit == 65536);
  auto big = "\n" + pattern(limit - 1, 3);
  check_error(s.store->put("jobs", big + "x"), errc::too_large, "jobs");
  CHECK(peek(*s.store, 32).empty());
  CHECK(files_in(s.root.path + "/queues/jobs") == 0);
  REQUIRE_MESSAGE(!s.store->put("jobs", big), "");
  REQUIRE(!s.store->put("jobs", ""));
  auto got = peek(*s.store, 32);
  REQUIRE(got.size() == 2);
  CHECK(got[0].text == big);
  CHECK(got[1].text.empty());
}

TEST_CASE("a missing queue is not_found; create_queue twice is fine") {
  queue_setup s;
  auto& q = *s.store;
  check_error(q.put("nope", "x"), errc::not_found, "nope");
  check_error(error_of(q.peek("nope", 1)), errc::not_found, "nope");
  CHECK(!fs::exists(s.root.path + "/queues/nope"));
  REQUIRE(!q.put("jobs", "kept"));
  REQUIRE(!q.create_queue("jobs"));
  auto got = peek(q, 32);
  REQUIRE(got.size() == 1);
  CHECK(got[0].text == "kept");
}

TEST_CASE("processes putting into one queue: every message once, each process's in order") {
  queue_setup s;
  constexpr int processes = 4;
  constexpr int messages = 8;  // 32 in all: one peek
  auto root = s.root.path;
  in_processes(processes, [&](int k) {
    auto store = make_local_queue_store(root);
    for (int i = 0; i < messages; ++i)
      if (store->put("jobs", std::to_string(k) + " " + std::to_string(i))) return 2;
    return 0;
  });
  auto got = peek(*s.store, 32);
  REQUIRE(got.size() == processes * messages);
  std::vector<int> next(processes, 0);
  for (auto& msg : got) {
    int k = -1;
    int i = -1;
    REQUIRE_MESSAGE(std::sscanf(msg.text.c_str(), "%d %d", &k, &i) == 2, msg.text);
    REQUIRE(k >= 0);
    REQUIRE(k < processes);
    CHECK(i == next[k]);
    next[k] = i + 1;
  }
  CHECK(next == std::vector<int>(processes, messages));
}
