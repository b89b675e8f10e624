import type { ConfChange, ConfState } from "./types.js";

/** The configuration after `cc`: a pure function shared by the core and anyone replaying the log. */
export function applyConfChange(conf: ConfState, cc: ConfChange): ConfState {
  const id = cc.nodeId;
  const without = (xs: number[]) => xs.filter((x) => x !== id);
  switch (cc.type) {
    case "addLearner":
      if (conf.voters.includes(id) || conf.learners.includes(id)) return conf;
      return {
        voters: [...conf.voters],
        learners: [...conf.learners, id],
        joining: cc.promoteWhenCaughtUp ? [...conf.joining, id] : [...conf.joining],
      };
    case "promoteLearner":
      if (!conf.learners.includes(id)) return conf;
      return {
        voters: [...conf.voters, id],
        learners: without(conf.learners),
        joining: without(conf.joining),
      };
    case "removeNode":
      return {
        voters: without(conf.voters),
        learners: without(conf.learners),
        joining: without(conf.joining),
      };
  }
}
