// sqlite-gmm as an ES module: the same functions as index.js (CommonJS).
import sqliteGmm from './index.js';

export const { getLoadablePath, load, version } = sqliteGmm;
export default sqliteGmm;
