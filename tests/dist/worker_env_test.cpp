// The worker contract: every source (torchrun, Slurm, Open MPI, none) and every malformed case.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "test_util.h"
#include "trainrt/dist/worker_env.h"

namespace trainrt::dist {
namespace {

using ::testing::HasSubstr;
using trainrt::testing::error_of;
using Env = std::map<std::string, std::string>;

WorkerIdentity identity(const Env& vars) {
  return worker_identity_from([&](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
  });
}

Env torchrun(int rank, int world) {
  return {{"RANK", std::to_string(rank)},      {"WORLD_SIZE", std::to_string(world)},
          {"LOCAL_RANK", std::to_string(rank % 2)}, {"LOCAL_WORLD_SIZE", "2"},
          {"GROUP_RANK", std::to_string(rank / 2)}, {"GROUP_WORLD_SIZE", std::to_string(world / 2)},
          {"MASTER_ADDR", "10.1.2.3"},       {"MASTER_PORT", "29600"}};
}

TEST(WorkerEnv, NothingSetIsASingleProcess) {
  const WorkerIdentity id = identity({});
  EXPECT_EQ(id.source, "single");
  EXPECT_EQ(id.rank, 0);
  EXPECT_EQ(id.world_size, 1);
  EXPECT_EQ(id.master_port, 29500);
}

TEST(WorkerEnv, TorchrunContract) {
  Env env = torchrun(3, 4);
  env["TORCHELASTIC_USE_AGENT_STORE"] = "True";
  env["TORCHELASTIC_RESTART_COUNT"] = "2";
  env["TORCHELASTIC_MAX_RESTARTS"] = "3";
  env["TORCHELASTIC_RUN_ID"] = "job7";
  env["TORCHELASTIC_ERROR_FILE"] = "/tmp/err.json";
  const WorkerIdentity id = identity(env);
  EXPECT_EQ(id.source, "torchrun");
  EXPECT_EQ(id.rank, 3);
  EXPECT_EQ(id.world_size, 4);
  EXPECT_EQ(id.local_rank, 1);
  EXPECT_EQ(id.local_world_size, 2);
  EXPECT_EQ(id.node_rank, 1);
  EXPECT_EQ(id.num_nodes, 2);
  EXPECT_EQ(id.master_addr, "10.1.2.3");
  EXPECT_EQ(id.master_port, 29600);
  EXPECT_TRUE(id.launcher_hosts_store);
  EXPECT_EQ(id.restart_count, 2);
  EXPECT_EQ(id.max_restarts, 3);
  EXPECT_EQ(id.run_id, "job7");
  EXPECT_EQ(id.error_file, "/tmp/err.json");
}

TEST(WorkerEnv, SlurmWithMasterFromTheNodeList) {
  const WorkerIdentity id = identity({{"SLURM_PROCID", "5"}, {"SLURM_NTASKS", "8"},
                                      {"SLURM_LOCALID", "1"}, {"SLURM_NODEID", "2"},
                                      {"SLURM_NNODES", "4"}, {"SLURM_TASKS_PER_NODE", "2(x4)"},
                                      {"SLURM_JOB_NODELIST", "gpu[007-010]"}});
  EXPECT_EQ(id.source, "slurm");
  EXPECT_EQ(id.rank, 5);
  EXPECT_EQ(id.world_size, 8);
  EXPECT_EQ(id.local_rank, 1);
  EXPECT_EQ(id.local_world_size, 2);
  EXPECT_EQ(id.node_rank, 2);
  EXPECT_EQ(id.master_addr, "gpu007");
  EXPECT_EQ(id.master_port, 29500);  // no job id: the default
}

TEST(WorkerEnv, SlurmPortFromTheJobIdUnlessMasterPortIsSet) {
  const std::map<std::string, std::string> base{{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"},
                                                {"SLURM_JOB_ID", "4242817"}};
  EXPECT_EQ(identity(base).master_port, 15000 + 2817);
  auto with_port = base;
  with_port["MASTER_PORT"] = "29777";
  EXPECT_EQ(identity(with_port).master_port, 29777);
  auto bad = base;
  bad["SLURM_JOB_ID"] = "abc";
  EXPECT_THAT(trainrt::testing::error_of([&] { identity(bad); }), ::testing::HasSubstr("SLURM_JOB_ID"));
}

TEST(WorkerEnv, OpenMpi) {
  const WorkerIdentity id = identity({{"OMPI_COMM_WORLD_RANK", "3"}, {"OMPI_COMM_WORLD_SIZE", "4"},
                                      {"OMPI_COMM_WORLD_LOCAL_RANK", "1"},
                                      {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"}, {"MASTER_ADDR", "h0"}});
  EXPECT_EQ(id.source, "openmpi");
  EXPECT_EQ(id.rank, 3);
  EXPECT_EQ(id.node_rank, 1);
  EXPECT_EQ(id.num_nodes, 2);
  EXPECT_EQ(id.master_addr, "h0");
}

TEST(WorkerEnv, FirstSlurmHost) {
  EXPECT_EQ(first_slurm_host("node[03-05,9]"), "node03");
  EXPECT_EQ(first_slurm_host("a1,b2"), "a1");
  EXPECT_EQ(first_slurm_host("single"), "single");
  EXPECT_EQ(first_slurm_host("x1,rack[2-3]"), "x1");
}

// Each malformed environment and the words its message must contain.
struct BadCase {
  Env env;
  std::string expected;
};

class WorkerEnvErrors : public ::testing::TestWithParam<BadCase> {};

TEST_P(WorkerEnvErrors, NameTheVariable) {
  EXPECT_THAT(error_of([] { identity(GetParam().env); }), HasSubstr(GetParam().expected));
}

Env with(Env env, const std::string& name, const std::string& value) {
  if (value.empty()) env.erase(name); else env[name] = value;
  return env;
}

INSTANTIATE_TEST_SUITE_P(
    EveryCase, WorkerEnvErrors,
    ::testing::Values(
        BadCase{with(torchrun(0, 4), "RANK", "two"), "RANK='two' is not a whole number"},
        BadCase{with(torchrun(0, 4), "RANK", "4"), "RANK=4 is not below WORLD_SIZE=4"},
        BadCase{with(torchrun(0, 4), "WORLD_SIZE", ""), "WORLD_SIZE is not set, but RANK is set"},
        BadCase{with(torchrun(0, 4), "WORLD_SIZE", "0"), "WORLD_SIZE=0 is out of range"},
        BadCase{with(torchrun(0, 4), "LOCAL_RANK", "2"), "LOCAL_RANK=2 is not below LOCAL_WORLD_SIZE=2"},
        BadCase{with(torchrun(0, 4), "LOCAL_WORLD_SIZE", "8"), "LOCAL_WORLD_SIZE=8 exceeds WORLD_SIZE=4"},
        BadCase{with(torchrun(0, 4), "GROUP_RANK", "2"), "GROUP_RANK=2 is not below GROUP_WORLD_SIZE=2"},
        BadCase{with(torchrun(0, 4), "MASTER_ADDR", ""), "MASTER_ADDR is not set"},
        BadCase{with(torchrun(0, 4), "MASTER_PORT", "70000"), "MASTER_PORT=70000 is out of range"},
        BadCase{with(torchrun(0, 4), "MASTER_PORT", "29x"), "MASTER_PORT='29x' is not a whole number"},
        BadCase{Env{{"WORLD_SIZE", "2"}}, "partial torchrun environment"},
        BadCase{Env{{"SLURM_PROCID", "0"}}, "SLURM_NTASKS is not set, but SLURM_PROCID is set"},
        BadCase{Env{{"SLURM_PROCID", "3"}, {"SLURM_NTASKS", "2"}}, "SLURM_PROCID=3 is not below SLURM_NTASKS=2"},
        BadCase{Env{{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "4"}, {"SLURM_NNODES", "2"}},
                "neither MASTER_ADDR nor SLURM_JOB_NODELIST"},
        BadCase{Env{{"OMPI_COMM_WORLD_RANK", "0"}}, "OMPI_COMM_WORLD_SIZE is not set"},
        BadCase{Env{{"OMPI_COMM_WORLD_RANK", "0"}, {"OMPI_COMM_WORLD_SIZE", "4"},
                    {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"}},
                "MASTER_ADDR is not set for a multi-node Open MPI job"}));

}  // namespace
}  // namespace trainrt::dist
