// Development-only driver of dev_emu.h: runs a grid of the chunked forward kernels on the host.
#include "dev_emu.h"
#include <thread>
#include <vector>
#include <string>

thread_local emu_dim3 threadIdx, blockIdx;
emu_dim3 blockDim, gridDim;
EmuBlock* emu_blk;
std::mutex emu_atomic_mu;

#include "bigla_tc.cu"

template <class F>
static void run_grid(int gx, int gy, int gz, int bx, unsigned smem, F body) {
    gridDim.x = gx; gridDim.y = gy; gridDim.z = gz;
    blockDim.x = bx;
    std::vector<float> sm((smem + 3) / 4 + 1);
    for (int z = 0; z < gz; ++z)
        for (int y = 0; y < gy; ++y)
            for (int x = 0; x < gx; ++x) {
                EmuBlock blk;
                std::barrier<> all(bx), n1(128), n2(128), n3(128);
                std::vector<std::barrier<>*> ws;
                for (int w = 0; w < bx / 32; ++w) ws.push_back(new std::barrier<>(32));
                blk.all = &all; blk.named[1] = &n1; blk.named[2] = &n2; blk.named[3] = &n3;
                for (int w = 0; w < bx / 32; ++w) blk.warp[w] = ws[w];
                for (auto& f : sm) f = std::nanf("");  // garbage: uninitialised reads show
                blk.smem = sm.data();
                blk.smem_bytes = smem;
                emu_blk = &blk;
                std::vector<std::thread> th;
                for (int t = 0; t < bx; ++t)
                    th.emplace_back([=]() {
                        threadIdx.x = t; blockIdx.x = x; blockIdx.y = y; blockIdx.z = z;
                        body();
                    });
                for (auto& t : th) t.join();
                for (auto* w : ws) delete w;
            }
}

extern "C" int emu_launch(const char* name, int gx, int gy, int gz, int bx, unsigned smem,
                          void** a) {
    std::string n(name);
#define I(i) (*(int*)a[i])
#define LL(i) (*(long long*)a[i])
#define P(T, i) ((T)(*(void**)a[i]))
    if (n == "bigla_tc_fwd") {
        run_grid(gx, gy, gz, bx, smem, [&]() {
            bigla_tc_fwd(P(const elem_t*, 0), P(const elem_t*, 1), P(const elem_t*, 2),
                         P(const float*, 3), P(const float*, 4), P(elem_t*, 5), P(float*, 6),
                         P(float*, 7), I(8), I(9), I(10), I(11), I(12),
                         LL(13), LL(14), LL(15), LL(16), LL(17), LL(18), LL(19), LL(20), LL(21),
                         LL(22), LL(23), LL(24), LL(25), LL(26), LL(27),
                         *(float*)a[28], I(29), I(30));
        });
        return 0;
    }
#if KT <= 2
#if O16  // v35 (session 10): three more pointers (dq16, dk16, dv16) after dv
    if (n == "bigla_tc_bwd") {
        run_grid(gx, gy, gz, bx, smem, [&]() {
            bigla_tc_bwd(P(const elem_t*, 0), P(const elem_t*, 1), P(const elem_t*, 2),
                         P(const float*, 3), P(const float*, 4), P(const elem_t*, 5),
                         P(float*, 6), P(float*, 7), P(float*, 8),
                         P(elem_t*, 9), P(elem_t*, 10), P(elem_t*, 11),
                         P(float*, 12), P(float*, 13),
                         P(float*, 14), P(const float*, 15), P(float*, 16), P(float*, 17),
                         I(18), I(19), I(20), I(21), I(22),
                         LL(23), LL(24), LL(25), LL(26), LL(27), LL(28), LL(29), LL(30), LL(31),
                         LL(32), LL(33), LL(34), LL(35), LL(36), LL(37), LL(38), LL(39), LL(40),
                         *(float*)a[41], I(42), I(43));
        });
        return 0;
    }
#else
    if (n == "bigla_tc_bwd") {
        run_grid(gx, gy, gz, bx, smem, [&]() {
            bigla_tc_bwd(P(const elem_t*, 0), P(const elem_t*, 1), P(const elem_t*, 2),
                         P(const float*, 3), P(const float*, 4), P(const elem_t*, 5),
                         P(float*, 6), P(float*, 7), P(float*, 8), P(float*, 9), P(float*, 10),
                         P(float*, 11), P(const float*, 12), P(float*, 13), P(float*, 14),
                         I(15), I(16), I(17), I(18), I(19),
                         LL(20), LL(21), LL(22), LL(23), LL(24), LL(25), LL(26), LL(27), LL(28),
                         LL(29), LL(30), LL(31), LL(32), LL(33), LL(34), LL(35), LL(36), LL(37),
                         *(float*)a[38], I(39), I(40));
        });
        return 0;
    }
#endif
    if (n == "bigla_tc_dg_fix") {
        run_grid(gx, gy, gz, bx, smem, [&]() {
            bigla_tc_dg_fix(P(float*, 0), P(float*, 1), P(const float*, 2), I(3), I(4), I(5),
                            I(6), I(7), I(8));
        });
        return 0;
    }
    if (n == "bigla_tc_dg_fix4") {
        run_grid(gx, gy, gz, bx, smem, [&]() {
            bigla_tc_dg_fix4(P(float*, 0), P(float*, 1), P(const float*, 2), I(3), I(4), I(5),
                             I(6), I(7), I(8));
        });
        return 0;
    }
    if (n == "bigla_tc_dg_fix4s") {  // session 7 (VIG_CUPY_DGFIX=vec2)
        run_grid(gx, gy, gz, bx, smem, [&]() {
            bigla_tc_dg_fix4s(P(float*, 0), P(float*, 1), P(const float*, 2), I(3), I(4), I(5),
                              I(6), I(7), I(8));
        });
        return 0;
    }
#endif
    if (n == "bigla_tc_scan") {
        run_grid(gx, gy, gz, bx, smem, [&]() {
            bigla_tc_scan(P(float*, 0), P(const float*, 1), I(2), I(3), I(4), I(5));
        });
        return 0;
    }
    if (n == "bigla_tc_scan2") {
        run_grid(gx, gy, gz, bx, smem, [&]() {
            bigla_tc_scan2(P(float*, 0), P(const float*, 1), I(2), I(3), I(4), I(5));
        });
        return 0;
    }
    return 1;
}
