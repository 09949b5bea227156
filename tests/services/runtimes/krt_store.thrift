# The `thrift` test-bed service's interface: one call per request, the
# request id in, a value out (the store reads and writes it in redis).
namespace cpp krt

service Store {
	string get(1: string id)
}
