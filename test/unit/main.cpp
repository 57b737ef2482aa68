// The doctest main of every unit suite. CAF's test DSL fixtures call caf::test::engine::argc()
// and argv(), which exactly one translation unit must define.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#define CAF_TEST_NO_MAIN
#include <caf/test/unit_test_impl.hpp>
