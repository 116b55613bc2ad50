module l0consumer

go 1.19
