#include "transport/detail/pickle_opcodes.hpp"

namespace pqrt::transport::detail {

namespace {

struct op_info {
  uint8_t code;
  const char* name;
  op_class kind;
};

constexpr op_info all_ops[] = {
    {'(', "MARK", op_class::plain},
    {'.', "STOP", op_class::plain},
    {'0', "POP", op_class::plain},
    {'1', "POP_MARK", op_class::plain},
    {'2', "DUP", op_class::plain},
    {'F', "FLOAT", op_class::text},
    {'I', "INT", op_class::text},
    {'J', "BININT", op_class::plain},
    {'K', "BININT1", op_class::plain},
    {'L', "LONG", op_class::text},
    {'M', "BININT2", op_class::plain},
    {'N', "NONE", op_class::plain},
    {'P', "PERSID", op_class::object},
    {'Q', "BINPERSID", op_class::object},
    {'R', "REDUCE", op_class::object},
    {'S', "STRING", op_class::text},
    {'T', "BINSTRING", op_class::text},
    {'U', "SHORT_BINSTRING", op_class::text},
    {'V', "UNICODE", op_class::text},
    {'X', "BINUNICODE", op_class::plain},
    {'a', "APPEND", op_class::plain},
    {'b', "BUILD", op_class::object},
    {'c', "GLOBAL", op_class::object},
    {'d', "DICT", op_class::plain},
    {'}', "EMPTY_DICT", op_class::plain},
    {'e', "APPENDS", op_class::plain},
    {'g', "GET", op_class::text},
    {'h', "BINGET", op_class::plain},
    {'i', "INST", op_class::object},
    {'j', "LONG_BINGET", op_class::plain},
    {'l', "LIST", op_class::plain},
    {']', "EMPTY_LIST", op_class::plain},
    {'o', "OBJ", op_class::object},
    {'p', "PUT", op_class::text},
    {'q', "BINPUT", op_class::plain},
    {'r', "LONG_BINPUT", op_class::plain},
    {'s', "SETITEM", op_class::plain},
    {'t', "TUPLE", op_class::plain},
    {')', "EMPTY_TUPLE", op_class::plain},
    {'u', "SETITEMS", op_class::plain},
    {'G', "BINFLOAT", op_class::plain},
    {0x80, "PROTO", op_class::plain},
    {0x81, "NEWOBJ", op_class::object},
    {0x82, "EXT1", op_class::object},
    {0x83, "EXT2", op_class::object},
    {0x84, "EXT4", op_class::object},
    {0x85, "TUPLE1", op_class::plain},
    {0x86, "TUPLE2", op_class::plain},
    {0x87, "TUPLE3", op_class::plain},
    {0x88, "NEWTRUE", op_class::plain},
    {0x89, "NEWFALSE", op_class::plain},
    {0x8a, "LONG1", op_class::plain},
    {0x8b, "LONG4", op_class::plain},
    {'B', "BINBYTES", op_class::plain},
    {'C', "SHORT_BINBYTES", op_class::plain},
    {0x8c, "SHORT_BINUNICODE", op_class::plain},
    {0x8d, "BINUNICODE8", op_class::plain},
    {0x8e, "BINBYTES8", op_class::plain},
    {0x8f, "EMPTY_SET", op_class::set},
    {0x90, "ADDITEMS", op_class::set},
    {0x91, "FROZENSET", op_class::set},
    {0x92, "NEWOBJ_EX", op_class::object},
    {0x93, "STACK_GLOBAL", op_class::object},
    {0x94, "MEMOIZE", op_class::plain},
    {0x95, "FRAME", op_class::plain},
    {0x96, "BYTEARRAY8", op_class::plain},
    {0x97, "NEXT_BUFFER", op_class::object},
    {0x98, "READONLY_BUFFER", op_class::object},
};

const op_info* find(uint8_t code) {
  for (const auto& info : all_ops)
    if (info.code == code) return &info;
  return nullptr;
}

}  // namespace

const char* op_name(uint8_t code) {
  const auto* info = find(code);
  return info != nullptr ? info->name : nullptr;
}

op_class classify(uint8_t code) {
  const auto* info = find(code);
  return info != nullptr ? info->kind : op_class::object;
}

}  // namespace pqrt::transport::detail
