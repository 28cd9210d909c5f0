import typescript from '@rollup/plugin-typescript'
import { dts } from 'rollup-plugin-dts'

// One input per public entry. Rollup puts what they share into core chunks that the entries
// import (no module twice), so an app using stepup-fetch and stepup-fetch/react has one
// StepUpError class and one single-flight queue. The DPoP and tab-sharing modules, loaded with
// import() only when their option is on, become chunks of their own.
const input = { index: 'src/index.ts', ky: 'src/ky/index.ts', react: 'src/react/index.ts', vue: 'src/vue/index.ts' }
// No runtime dependencies (docs/decisions/0006-own-oauth-client.md). The frameworks are the app's
// own (optional peer dependencies).
const external = (id) => /^(ky|react|react-dom|vue)(\/|$)/.test(id)

export default [
  {
    input,
    external,
    output: {
      dir: 'dist',
      format: 'esm',
      entryFileNames: '[name].js',
      // Chunks loaded with import() only when their option is on (dpop, shareAcrossTabs) carry
      // their module's name, so an app's build output says what they are.
      chunkFileNames: (chunk) => (chunk.isDynamicEntry ? `${chunk.name}-[hash].js` : 'core-[hash].js'),
      sourcemap: true,
      // Rollup drops module-level directives (rollup#4699); React Server Components need the
      // React entry to start with 'use client', so it is put back as a banner.
      banner: (chunk) => (chunk.isEntry && chunk.name === 'react' ? "'use client';" : ''),
    },
    onwarn(warning, warn) {
      // The 'use client' in src/react (for apps that compile our source) is the one put back above.
      if (warning.code === 'MODULE_LEVEL_DIRECTIVE' && warning.message.includes('use client')) return
      warn(warning)
    },
    plugins: [typescript({ tsconfig: './tsconfig.build.json' })],
  },
  {
    input,
    external,
    output: { dir: 'dist', format: 'esm', entryFileNames: '[name].d.ts', chunkFileNames: 'core-[hash].d.ts' },
    plugins: [dts({ tsconfig: './tsconfig.build.json' })],
  },
]
