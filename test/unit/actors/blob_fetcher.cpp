// actors/blob_fetcher: whole blobs, a large blob streamed in chunks of blob_chunk_size to its end,
// and storage errors returned to the caller; on CAF's deterministic scheduler with local storage
// in a temporary directory.
#include "actors/blob_fetcher.hpp"

#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/protocol.hpp"
#include "fakes.hpp"
#include "runtime/base/error.hpp"
#include "transport/local_storage.hpp"

#include "caf_doctest.hpp"

namespace {

struct fixture : test_coordinator_fixture<> {
  pqrt::test::temp_dir dir{"blob-fetcher"};
  std::string root = dir.path;
  caf::actor fetcher;

  fixture() {
    auto ps = std::make_shared<pqrt::pipeline_settings>();
    ps->make_blobs = [root =
                          root]() -> caf::expected<std::unique_ptr<pqrt::transport::blob_store>> {
      return pqrt::transport::make_local_blob_store(root);
    };
    auto store = pqrt::transport::make_local_blob_store(root);
    REQUIRE_FALSE(store->create_container("data"));
    REQUIRE_FALSE(store->put("data", "small", "key bytes"));
    fetcher = pqrt::spawn_blob_fetcher(sys, ps, pqrt::spawn_mode::scheduled);
  }

  ~fixture() {
    caf::anon_send_exit(fetcher, caf::exit_reason::kill);
    sched.run();
  }

  template <class T, class... Ts>
  caf::expected<T> ask(Ts... xs) {
    return pqrt::test::ask<T>(
        sys, [this] { sched.run(); }, fetcher, xs...);
  }
};

}  // namespace

TEST_CASE_FIXTURE(fixture, "a small blob is fetched whole") {
  auto got = ask<std::string>(pqrt::fetch_atom::value, std::string{"data"}, std::string{"small"});
  REQUIRE(got);
  CHECK(*got == "key bytes");
}

TEST_CASE_FIXTURE(fixture, "a large blob streams in chunks to an empty end") {
  std::string data(pqrt::blob_chunk_size * 2 + 12345, '\0');
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<char>('a' + i % 26);
  REQUIRE_FALSE(pqrt::transport::make_local_blob_store(root)->put("data", "big", data));
  auto size = ask<uint64_t>(pqrt::open_atom::value, std::string{"data"}, std::string{"big"});
  REQUIRE(size);
  CHECK(*size == data.size());
  std::string joined;
  std::vector<size_t> sizes;
  for (int i = 0; i < 1000; ++i) {
    auto chunk = ask<std::string>(pqrt::next_atom::value);
    REQUIRE(chunk);
    if (chunk->empty()) break;
    sizes.push_back(chunk->size());
    joined += *chunk;
  }
  CHECK(joined == data);
  CHECK(sizes.size() >= 3);
  for (auto n : sizes)
    CHECK(n <= pqrt::blob_chunk_size);
}

TEST_CASE_FIXTURE(fixture, "a missing blob and a next without an open are errors") {
  auto missing =
      ask<std::string>(pqrt::fetch_atom::value, std::string{"data"}, std::string{"nope"});
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code() == static_cast<uint8_t>(pqrt::errc::not_found));
  auto next = ask<std::string>(pqrt::next_atom::value);
  CHECK_FALSE(next);
}
