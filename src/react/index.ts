'use client'
// stepup-fetch/react: the SDK's state and fetch for React 18+ components. Put back as a banner
// in the built file (rollup drops directives), so React Server Components treat it as client code.
export { StepUpProvider } from './StepUpProvider.js'
export type { StepUpProviderProps } from './StepUpProvider.js'
export { useStepUp, useStepUpClient, useStepUpFetch } from './hooks.js'
export { StepUpPrompt } from './StepUpPrompt.js'
export type { StepUpPromptProps, StepUpPromptControls } from './StepUpPrompt.js'
