vitvizAtlas("cards_L0_attn.q",{"f":[111,116],"vis":["vis/blocks.0.attn.q_f0111.png","vis/blocks.0.attn.q_f0116.png"],"fail":[null,null],"clip":[null,null],"score":[null,[1.086,0.296,0.35]]});
