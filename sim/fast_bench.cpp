// flipspike's compiled bench: the job protocol of bench_accel.py, clocked from C++ so that no Python
// runs per cycle. Built with the Verilated accelerator by fast.py.
//
// stdin (whitespace-separated tokens, values in hexadecimal):
//   J                                   jobs, then per job:
//   L  (addr data) x L                  load-bus writes, one per cycle
//   S  (W word x W) x S                 samples: input stream words (pixels, or AER event words)
//   P  addr x P                         monitor reads
//   B                                   1: also stream the samples back to back
// stdout, per job (fields decoded in Python, see fast.py):
//   job
//   sample <counters before> <counters after> <result payload> <latency>      (one per sample)
//   peek <data> ...
//   streamed <n>                                                               (progress, every 16 results)
//   stream <results> (<payload> <arrival cycle>) x results
//   dropped <events>                                                           (an AER build: its counter)
//   cycles <simulated cycles>
//
// fast_top.h names the input stream (IN_PAYLOAD, IN_VALID, IN_READY: the pixel port, or the AER port's,
// which defines AER).
// Timing matches the cocotb bench edge for edge: inputs change between a falling and the next rising
// edge, outputs are read after the falling edge, and every figure counts whole clock cycles.

#include <cstdint>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include <verilated.h>
#include "fast_top.h"   // written by fast.py: includes the Verilated top, defines TOP_CLASS

// a "streamed N" line after every PROGRESS_EVERY results of a back-to-back run (the host's progress bar)
constexpr size_t PROGRESS_EVERY = 16;

using Words = std::vector<uint32_t>;

static Words parse_hex(const std::string& text) {
    Words words;
    for (size_t end = text.size(); end > 0;) {            // 8 hex digits per 32-bit word, from the right
        size_t begin = end >= 8 ? end - 8 : 0;
        words.push_back(static_cast<uint32_t>(std::stoul(text.substr(begin, end - begin), nullptr, 16)));
        end = begin;
    }
    return words;
}

template <typename T>
static void put(T& port, const Words& w) {
    if constexpr (std::is_integral_v<T>) {
        uint64_t v = 0;
        for (size_t i = 0; i < w.size() && i < 2; ++i) v |= static_cast<uint64_t>(w[i]) << (32 * i);
        port = static_cast<T>(v);
    } else {
        for (size_t i = 0; i < port.size(); ++i) port.at(i) = i < w.size() ? w[i] : 0;
    }
}

template <typename T>
static std::string hex(const T& port) {
    char buf[20];
    if constexpr (std::is_integral_v<T>) {
        std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(port));
        return buf;
    } else {
        std::string out;
        for (size_t i = port.size(); i-- > 0;) {
            std::snprintf(buf, sizeof buf, "%08x", port.at(i));
            out += buf;
        }
        return out;
    }
}

static std::string token() {
    std::string s;
    if (!(std::cin >> s)) {
        std::cerr << "fast_bench: truncated stimulus\n";
        std::exit(2);
    }
    return s;
}

static size_t count() { return std::stoul(token(), nullptr, 16); }

struct Bench {
    std::unique_ptr<TOP_CLASS> top;
    uint64_t cycle = 0;

    explicit Bench(VerilatedContext* ctx) : top(new TOP_CLASS{ctx}) {}

    void tick() {                                          // a rising edge, then the falling edge
        top->clk = 1;
        top->eval();
        top->clk = 0;
        top->eval();
        ++cycle;
    }

    void drive(const Words& word) {
        put(top->IN_PAYLOAD, word);
        top->IN_VALID = 1;
    }

    void send(const std::vector<Words>& words) {
        for (const Words& word : words) {
            while (!top->IN_READY) tick();
            drive(word);
            tick();
        }
        top->IN_VALID = 0;
    }

    void one_at_a_time(const std::vector<std::vector<Words>>& samples) {
        for (const auto& words : samples) {
            tick();
            std::string before = hex(top->counters);
            uint64_t start = cycle;
            send(words);
            if (top->result___05Fvalid) {
                tick();
            } else {
                do tick(); while (!top->result___05Fvalid);
            }
            std::cout << "sample " << before << ' ' << hex(top->counters) << ' ' << hex(top->result___05Fpayload)
                      << ' ' << (cycle - start) << std::endl;      // (flushed: the host counts progress)
        }
    }

    void back_to_back(const std::vector<std::vector<Words>>& samples) {
        std::vector<std::string> results;
        std::vector<uint64_t> arrival;
        size_t s = 0, w = 0;
        while (results.size() < samples.size()) {
            while (s < samples.size() && w == samples[s].size()) s++, w = 0;   // (a sample of no words)
            if (s < samples.size()) {
                if (top->IN_READY) {
                    drive(samples[s][w]);
                    if (++w == samples[s].size()) s++, w = 0;
                }
            } else {
                top->IN_VALID = 0;
            }
            tick();
            if (top->result___05Fvalid) {
                results.push_back(hex(top->result___05Fpayload));
                arrival.push_back(cycle);
                if (results.size() % PROGRESS_EVERY == 0) std::cout << "streamed " << PROGRESS_EVERY << std::endl;
            }
        }
        top->IN_VALID = 0;
        if (results.size() % PROGRESS_EVERY) std::cout << "streamed " << results.size() % PROGRESS_EVERY << '\n';
        std::cout << "stream " << results.size();
        for (size_t i = 0; i < results.size(); ++i) std::cout << ' ' << results[i] << ' ' << arrival[i];
        std::cout << '\n';
    }
};

int main(int argc, char** argv) {
    auto ctx = std::make_unique<VerilatedContext>();
    ctx->commandArgs(argc, argv);
    Bench bench(ctx.get());
    auto& top = *bench.top;
    top.clk = 0;
    top.rst = 1;
    top.IN_VALID = 0;
    top.load___05Fen = 0;
    top.result___05Fready = 1;
    top.eval();
    for (int i = 0; i < 3; ++i) bench.tick();
    top.rst = 0;

    size_t jobs = count();
    for (size_t j = 0; j < jobs; ++j) {
        std::vector<std::pair<Words, Words>> loads(count());
        for (auto& [addr, data] : loads) addr = parse_hex(token()), data = parse_hex(token());
        std::vector<std::vector<Words>> samples(count());
        for (auto& words : samples) {
            words.resize(count());
            for (auto& word : words) word = parse_hex(token());
        }
        std::vector<Words> peeks(count());
        for (auto& addr : peeks) addr = parse_hex(token());
        bool stream = count() != 0;

        std::cout << "job\n";
        uint64_t start = bench.cycle;
        for (const auto& [addr, data] : loads) {           // one word per cycle, while idle
            put(top.load___05Faddr, addr);
            put(top.load___05Fdata, data);
            top.load___05Fen = 1;
            bench.tick();
        }
        top.load___05Fen = 0;
        bench.one_at_a_time(samples);
        if (!peeks.empty()) {
            std::cout << "peek";
            for (const Words& addr : peeks) {              // the word appears MONITOR_LATENCY cycles later
                put(top.monitor___05Faddr, addr);
                for (int k = 0; k < MONITOR_LATENCY; ++k) bench.tick();
                std::cout << ' ' << hex(top.monitor___05Fdata);
            }
            std::cout << '\n';
        }
        if (stream) bench.back_to_back(samples);
#ifdef AER
        std::cout << "dropped " << hex(top.aer_dropped) << '\n';
#endif
        std::cout << "cycles " << (bench.cycle - start) << '\n';
    }
    top.final();
    return 0;
}
