module krtsvc

go 1.19
